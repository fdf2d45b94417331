// Package auth authenticates API requests the way AWS does: it verifies AWS Signature Version 4
// (the Authorization-header form and the presigned query-string form) against the access keys
// the server holds, and it owns the server's root access key (taken from the environment, or
// generated on first start and kept in the data dir).
//
// The package owns signature verification, the root-credentials file (root-credentials.json in
// the data dir) and the hint printed to configure clients. It returns *lambdaerr.Error values
// carrying AWS's error types and wording; it does not render them on the wire (internal/api
// does), it does not route or authorize operations (every valid key may call every operation),
// and it must not import any Ember package other than internal/lambdaerr.
//
// Canonicalisation follows what aws-sdk-go-v2's signer and botocore (the AWS CLI) send, both
// tested against this package:
//
//   - The canonical URI is the request-target's path exactly as sent, percent-encoded once more
//     (non-S3 services double-encode, so "arn%3Aaws" is signed as "arn%253Aaws"). When the path
//     has "." or empty segments, the form botocore signs (with them removed) is tried too.
//   - Query names and values are decoded ('+' is a space) and encoded again with only
//     unreserved characters bare, then sorted by name and value.
//   - Header values are trimmed and inner runs of spaces and tabs collapsed to one space; host
//     comes from Request.Host, content-length and transfer-encoding from where net/http keeps
//     them. The host header must be signed.
//   - The payload hash is the body's SHA-256 unless X-Amz-Content-Sha256 says UNSIGNED-PAYLOAD
//     or gives the hash (which must then match the body). A presigned request that does not say
//     may have signed the body's hash or UNSIGNED-PAYLOAD.
//   - The signing time comes from X-Amz-Date, else from a Date header; it must be within
//     MaxSkew (15 minutes) of the clock, and a presigned request is good until X-Amz-Date plus
//     X-Amz-Expires (at most a week). X-Amz-Security-Token is not checked: Ember issues no
//     temporary credentials, and clients that send a token with a long-term key still verify.
package auth
