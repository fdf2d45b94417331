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
package auth
