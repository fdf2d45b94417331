package invoke

import (
	"encoding/json"

	"github.com/ember-serverless/ember/internal/lambdaerr"
)

// Type is an invocation type, as the X-Amz-Invocation-Type header names it.
type Type string

// The invocation types.
const (
	// RequestResponse runs the function and answers with its response (the default).
	RequestResponse Type = "RequestResponse"
	// Event queues the event and answers 202 at once.
	Event Type = "Event"
	// DryRun checks the caller could invoke and runs nothing.
	DryRun Type = "DryRun"
)

// ParseType checks an X-Amz-Invocation-Type value; "" is RequestResponse. The error is
// Lambda's for a value outside the enum.
func ParseType(s string) (Type, error) {
	switch t := Type(s); t {
	case "":
		return RequestResponse, nil
	case RequestResponse, Event, DryRun:
		return t, nil
	}
	return "", lambdaerr.New(lambdaerr.Validation, "1 validation error detected: Value '%s' at 'invocationType' failed to satisfy constraint: "+
		"Member must satisfy enum value set: [Event, RequestResponse, DryRun]", s)
}

// FunctionError is what X-Amz-Function-Error says of a failed invocation.
type FunctionError string

// FunctionErrorUnhandled is the function error of every failed invocation: Lambda reports
// "Handled" only for runtimes long retired.
const FunctionErrorUnhandled FunctionError = "Unhandled"

// ErrorType names why an invocation failed: a function's own errorType, as its runtime
// reports it, or one of the platform's below.
type ErrorType string

// The error types the platform reports, as Lambda names them.
const (
	// RuntimeExitError: the runtime exited during an invocation or its init.
	RuntimeExitError ErrorType = "Runtime.ExitError"
	// RuntimeOutOfMemory: the runtime was killed for exceeding its memory.
	RuntimeOutOfMemory ErrorType = "Runtime.OutOfMemory"
	// SandboxTimedout: the invocation or the init ran past its timeout.
	SandboxTimedout ErrorType = "Sandbox.Timedout"
	// RuntimeInvalidEntrypoint: there is nothing to run (no bootstrap).
	RuntimeInvalidEntrypoint ErrorType = "Runtime.InvalidEntrypoint"
	// FunctionResponseSizeTooLarge: the response is over MaxResponseSize.
	FunctionResponseSizeTooLarge ErrorType = "Function.ResponseSizeTooLarge"
	// RuntimeUnknown: the runtime reported an error without naming it.
	RuntimeUnknown ErrorType = "Runtime.Unknown"
)

// ErrorDocument is Lambda's JSON error document, {"errorMessage","errorType"}: the payload of
// an invocation that failed in the platform rather than in the function's own code.
func ErrorDocument(t ErrorType, msg string) []byte {
	b, _ := json.Marshal(struct {
		ErrorType    ErrorType `json:"errorType"`
		ErrorMessage string    `json:"errorMessage"`
	}{t, msg})
	return b
}
