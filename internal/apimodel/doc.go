// Package apimodel checks requests against the constraints of the Lambda API model, as AWS's
// front end does before Lambda sees a request: required members, string lengths and patterns,
// numeric ranges, enums, list and map sizes. A request that breaks them is answered with a
// ValidationException whose message has AWS's form ("1 validation error detected: Value 'x' at
// 'functionName' failed to satisfy constraint: ...").
//
// The constraints come from lambda.json, a trimmed copy of botocore's Lambda model
// (lambda/2015-03-31/service-2.json) made by gen (go generate); nothing is written by hand.
// Checks that need Lambda's own knowledge (which runtimes exist, whether a function does) are
// not here: internal/control makes them. This package imports only internal/lambdaerr.
package apimodel

//go:generate go run ./gen -o lambda.json
