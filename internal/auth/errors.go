package auth

import (
	"fmt"
	"net/http"

	"github.com/ember-serverless/ember/internal/lambdaerr"
)

// IncompleteSignature is the error type AWS returns (400) for an Authorization header or
// presigned query it cannot parse. It is not part of the Lambda API model, so lambdaerr does not
// list it.
const IncompleteSignature lambdaerr.Type = "IncompleteSignatureException"

// Messages as AWS words them.
const (
	msgMissingToken     = "Missing Authentication Token"
	msgUnrecognized     = "The security token included in the request is invalid."
	msgSignatureInvalid = "The request signature we calculated does not match the signature you provided. " +
		"Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
	msgHashMismatch = "The provided 'x-amz-content-sha256' header does not match what was computed."
	msgHostUnsigned = "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."
)

// iso8601Basic is SigV4's timestamp format.
const iso8601Basic = "20060102T150405Z"

func errMissingToken() *lambdaerr.Error {
	return lambdaerr.New(lambdaerr.MissingAuthenticationTok, msgMissingToken)
}

func errUnrecognizedClient() *lambdaerr.Error {
	return lambdaerr.New(lambdaerr.UnrecognizedClient, msgUnrecognized)
}

func errSignatureMismatch() *lambdaerr.Error {
	return lambdaerr.New(lambdaerr.InvalidSignature, msgSignatureInvalid)
}

func errInvalidSignature(format string, args ...any) *lambdaerr.Error {
	return lambdaerr.New(lambdaerr.InvalidSignature, format, args...)
}

func errIncomplete(format string, args ...any) *lambdaerr.Error {
	return &lambdaerr.Error{Type: IncompleteSignature, Message: fmt.Sprintf(format, args...), Status: http.StatusBadRequest}
}
