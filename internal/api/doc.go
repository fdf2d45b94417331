// Package api is the HTTP surface of the Lambda API: one route table with Lambda's REST paths,
// one handler per operation, request decoding with Lambda's size limits, authentication of every
// request through an injected Authenticator, and the one place where errors are rendered on the
// wire (x-amzn-ErrorType header and a JSON body, from *lambdaerr.Error values).
//
// It owns no state: functions live in the registry (internal/control), invocations are run by an
// injected invoke.Invoker, packages are read through a CodeReader, and CloudWatch Logs
// requests are handed to an injected http.Handler. It must not reach into those packages'
// internals, nor keep anything between requests beyond what its Server was built with.
package api
