package invoke

import (
	"context"
	"time"
)

// Request is one invoke as a caller hands it to the frontend: the API after decoding an
// Invoke call, or a poller (async, event source) with an event of its own. The function name
// is already parsed: a bare name, never an ARN, and Qualifier the one version or alias it
// names. The caller has checked the payload's size and that it is JSON.
type Request struct {
	// Function is the function's name.
	Function string
	// Qualifier is the version or alias, or "" for $LATEST.
	Qualifier string
	// Type is how the caller wants it run; the zero value is RequestResponse.
	Type Type
	// Tail asks for the last 4 KB of the invocation's log in Response.LogResult
	// (X-Amz-Log-Type: Tail).
	Tail bool
	// ClientContext is the base64 X-Amz-Client-Context, passed to the runtime.
	ClientContext string
	// Payload is the event, JSON; empty means {}.
	Payload []byte
	// RequestID is the invocation's request ID when the caller has one (the API's
	// x-amzn-RequestId, or an async event's own); the frontend makes one when it is empty.
	RequestID string
}

// Response is what came of an invoke, as the caller answers it.
type Response struct {
	// StatusCode is 200 for RequestResponse, 202 for Event, 204 for DryRun.
	StatusCode int
	// Payload is the function's response, or its error document when FunctionError is set.
	Payload []byte
	// FunctionError is set when the function failed.
	FunctionError FunctionError
	// LogResult is the base64 of the last 4 KB of the invocation's log, when Tail was asked.
	LogResult string
	// ExecutedVersion is the version that ran ("$LATEST" or a number).
	ExecutedVersion string
	// RequestID is the invocation's request ID.
	RequestID string
	// Finish, when set, writes the invocation's END and REPORT lines: call it once the answer
	// is on its way (see Result.Finish). A caller may leave it uncalled: the lines are then
	// written within about a second anyway.
	Finish func()
}

// Invoker runs invokes: the frontend, as every caller of the path sees it. Errors are
// *lambdaerr.Error values, or wrap them; a function's own failure is not an error but a
// Response with FunctionError set.
type Invoker interface {
	Invoke(ctx context.Context, req *Request) (*Response, error)
}

// Version is one function version as the invoke path runs it.
type Version struct {
	// Key identifies the code and configuration; sandboxes are reused only for the same key.
	Key string
	// Version is what X-Amz-Executed-Version reports.
	Version string
	// Sandbox is what a new sandbox for it is made from.
	Sandbox SandboxSpec
}

// SandboxSpec describes the function version a sandbox runs: what a worker needs to make one.
type SandboxSpec struct {
	FunctionName string
	FunctionARN  string
	Version      string
	Runtime      string
	Handler      string
	// Command is the runtime process as seen inside the sandbox.
	Command            []string
	MemoryMB           int
	Timeout            time.Duration
	EphemeralStorageMB int
	// Env holds the function's own variables; the worker adds Lambda's.
	Env       map[string]string
	CodeDir   string
	LayerDirs []string
	// SnapshotKey, when set (SnapStart), names the version's initialized sandbox: the first
	// sandbox is snapshotted once initialized and later ones restore from it
	// (sandbox.Spec.SnapshotKey).
	SnapshotKey string
}

// Invocation is one event handed to a sandbox.
type Invocation struct {
	RequestID string
	// InvokedFunctionARN is the ARN the caller invoked, as the runtime is told it
	// (Lambda-Runtime-Invoked-Function-Arn): the function's unqualified ARN, or with the
	// version or alias the caller named. Empty: the sandbox's FunctionARN.
	InvokedFunctionARN string
	Payload            []byte
	ClientContext      string
	CognitoIdentity    string
	TraceID            string
	// Tail asks for the last 4 KB of the invocation's log in the result.
	Tail bool
}

// Result is what came of an invocation in a sandbox.
type Result struct {
	// Payload is the function's response, or an error document when FunctionError is set.
	Payload []byte
	// FunctionError is set when the invocation failed.
	FunctionError FunctionError
	// ErrorType names the failure (the function's own errorType, or one of the platform's
	// ErrorType constants), empty on success.
	ErrorType ErrorType
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
	// anything else the sandbox logs, when it ends, or about a second later: a caller that
	// forgets Finish delays them, it cannot lose them.
	Finish func()
}

// LatestVersion is the version every function has, the one a request without a qualifier runs.
const LatestVersion = "$LATEST"
