// Package lambdaerr is Lambda's error vocabulary: the error types the API returns, with their
// HTTP status codes. Domain packages return *Error values (or wrap them); internal/api renders
// them on the wire in one place. This package must not import any other Ember package.
package lambdaerr

import (
	"errors"
	"fmt"
	"net/http"
)

// Type is an error name as it appears in the x-amzn-ErrorType header and the __type field.
type Type string

// Error types from the Lambda API model.
const (
	ResourceNotFound      Type = "ResourceNotFoundException"
	ResourceConflict      Type = "ResourceConflictException"
	ResourceInUse         Type = "ResourceInUseException"
	InvalidParameterValue Type = "InvalidParameterValueException"
	// Validation is a request that breaks the API model's own constraints (pattern, length,
	// range, enum, required), answered before Lambda looks at it.
	Validation               Type = "ValidationException"
	InvalidRequestContent    Type = "InvalidRequestContentException"
	RequestTooLarge          Type = "RequestTooLargeException"
	PreconditionFailed       Type = "PreconditionFailedException"
	TooManyRequests          Type = "TooManyRequestsException"
	ServiceException         Type = "ServiceException"
	CodeStorageExceeded      Type = "CodeStorageExceededException"
	UnsupportedMediaType     Type = "UnsupportedMediaTypeException"
	InvalidZipFile           Type = "InvalidZipFileException"
	ResourceNotReady         Type = "ResourceNotReadyException"
	InvalidRuntime           Type = "InvalidRuntimeException"
	UnrecognizedClient       Type = "UnrecognizedClientException"
	InvalidSignature         Type = "InvalidSignatureException"
	MissingAuthenticationTok Type = "MissingAuthenticationTokenException"
	AccessDenied             Type = "AccessDeniedException"
	UnknownOperation         Type = "UnknownOperationException"
	ServiceUnavailable       Type = "ServiceUnavailableException"
	EC2Unexpected            Type = "EC2UnexpectedException"
)

var statusOf = map[Type]int{
	ResourceNotFound:         http.StatusNotFound,
	ResourceConflict:         http.StatusConflict,
	ResourceInUse:            http.StatusBadRequest,
	InvalidParameterValue:    http.StatusBadRequest,
	Validation:               http.StatusBadRequest,
	InvalidRequestContent:    http.StatusBadRequest,
	RequestTooLarge:          http.StatusRequestEntityTooLarge,
	PreconditionFailed:       http.StatusPreconditionFailed,
	TooManyRequests:          http.StatusTooManyRequests,
	ServiceException:         http.StatusInternalServerError,
	CodeStorageExceeded:      http.StatusBadRequest,
	UnsupportedMediaType:     http.StatusUnsupportedMediaType,
	InvalidZipFile:           http.StatusBadGateway,
	ResourceNotReady:         http.StatusBadGateway,
	InvalidRuntime:           http.StatusBadGateway,
	UnrecognizedClient:       http.StatusForbidden,
	InvalidSignature:         http.StatusForbidden,
	MissingAuthenticationTok: http.StatusForbidden,
	AccessDenied:             http.StatusForbidden,
	UnknownOperation:         http.StatusNotFound,
	ServiceUnavailable:       http.StatusServiceUnavailable,
	EC2Unexpected:            http.StatusBadGateway,
}

// Error is an error Lambda's API returns to a client.
type Error struct {
	Type    Type
	Message string
	// Status overrides the type's usual HTTP status when non-zero.
	Status int
	// Reason fills the Reason field some errors carry (e.g. TooManyRequestsException's
	// "ReservedFunctionConcurrentInvocationLimitExceeded").
	Reason string
	// RetryAfterSeconds, when set, is sent as the Retry-After header.
	RetryAfterSeconds int
}

func (e *Error) Error() string { return string(e.Type) + ": " + e.Message }

// HTTPStatus is the status code the error is rendered with.
func (e *Error) HTTPStatus() int {
	if e.Status != 0 {
		return e.Status
	}
	if s, ok := statusOf[e.Type]; ok {
		return s
	}
	return http.StatusBadRequest
}

// New returns an error of type t with a formatted message.
func New(t Type, format string, args ...any) *Error {
	return &Error{Type: t, Message: fmt.Sprintf(format, args...)}
}

// NotFound is the ResourceNotFoundException for a function (or other resource) that does not
// exist; arn is the resource's ARN as Lambda prints it.
func NotFound(kind, arn string) *Error {
	return New(ResourceNotFound, "%s not found: %s", kind, arn)
}

// InvalidParameter is an InvalidParameterValueException.
func InvalidParameter(format string, args ...any) *Error {
	return New(InvalidParameterValue, format, args...)
}

// As returns the *Error in err's chain, or a ServiceException wrapping err's text when there is
// none.
func As(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Type: ServiceException, Message: "an internal error occurred"}
}
