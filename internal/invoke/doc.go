// Package invoke holds the invoke path's own types: the request a caller hands the frontend
// (Request) and what it gets back (Response), the invocation a sandbox runs (Invocation) and
// what came of it (Result), the sandbox spec a function version is run from (SandboxSpec,
// inside a Version), the invocation types, and the typed vocabulary of function errors
// (ErrorType, FunctionError, ErrorDocument). Every package on or calling the path speaks them:
// api, frontend, assign, placement, worker, and the asynchronous and event-source pollers.
//
// It is a leaf: it must not import any other Ember package except internal/lambdaerr, and it
// holds types and pure functions only — no state, no goroutines, no I/O. See
// docs/invoke-path-types.md for who may import whom.
package invoke
