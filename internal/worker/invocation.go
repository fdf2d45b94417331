package worker

import (
	"errors"
	"time"
)

// Invocation is one event handed to a sandbox.
type Invocation struct {
	RequestID       string
	Payload         []byte
	ClientContext   string
	CognitoIdentity string
	TraceID         string
	// Tail asks for the last 4 KB of the invocation's log in the result.
	Tail bool
}

// Error types the worker reports when the runtime itself fails, as Lambda names them.
const (
	ErrorTypeExit           = "Runtime.ExitError"
	ErrorTypeOutOfMemory    = "Runtime.OutOfMemory"
	ErrorTypeTimeout        = "Sandbox.Timedout"
	ErrorTypeInvalidEntry   = "Runtime.InvalidEntrypoint"
	ErrorTypeResponseTooBig = "Function.ResponseSizeTooLarge"
	ErrorTypeUnknown        = "Runtime.Unknown"
)

// Result is what came of an invocation.
type Result struct {
	// Payload is the function's response, or an error document when FunctionError is set.
	Payload []byte
	// FunctionError is "Unhandled" when the invocation failed.
	FunctionError string
	// ErrorType names the failure (the function's own errorType, or one of the ErrorType*
	// constants), empty on success.
	ErrorType string
	// Log is the last 4 KB of the invocation's log, when Tail was asked for.
	Log []byte
	// Duration is how long the invocation ran in the runtime; InitDuration is set on the
	// invocation that started the sandbox.
	Duration     time.Duration
	InitDuration time.Duration
	// Reusable is false when the sandbox was destroyed and must not be used again.
	Reusable bool
	// Finish, when set, writes the invocation's END and REPORT lines: call it once the answer
	// is on its way to the caller. Until then they are held, and written at the latest before
	// anything else the sandbox logs, or when it ends.
	Finish func()
}

// MaxResponseSize is the largest response payload a synchronous invoke returns.
const MaxResponseSize = 6 * 1024 * 1024

// TailSize is how much of an invocation's log X-Amz-Log-Result carries.
const TailSize = 4096

// ErrSandboxGone is returned when an invocation is offered to a sandbox that is no longer
// usable.
var ErrSandboxGone = errors.New("sandbox is gone")
