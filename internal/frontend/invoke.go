package frontend

import "context"

// Invocation types, as the X-Amz-Invocation-Type header names them.
const (
	RequestResponse = "RequestResponse"
	Event           = "Event"
	DryRun          = "DryRun"
)

// Request is one Invoke call as the API decoded it. The API has already checked the payload's
// size and that it is JSON.
type Request struct {
	// FunctionName is the name, partial ARN or full ARN from the request path.
	FunctionName string
	// Qualifier is the version or alias from the ?Qualifier= parameter or the ARN, if any.
	Qualifier string
	// InvocationType is RequestResponse, Event or DryRun.
	InvocationType string
	// LogType is "None" or "Tail".
	LogType string
	// ClientContext is the base64 X-Amz-Client-Context header, passed to the runtime.
	ClientContext string
	// Payload is the event, JSON.
	Payload []byte
	// RequestID is the invocation's request ID when the caller has one (the API's
	// x-amzn-RequestId); the frontend makes one when it is empty.
	RequestID string
}

// Response is what the API writes back.
type Response struct {
	// StatusCode is 200 for RequestResponse, 202 for Event, 204 for DryRun.
	StatusCode int
	// Payload is the function's response, or its error document when FunctionError is set.
	Payload []byte
	// FunctionError is "Unhandled" (or "Handled") when the function failed; empty otherwise.
	FunctionError string
	// LogResult is the base64 of the last 4 KB of the invocation's log, when LogType was Tail.
	LogResult string
	// ExecutedVersion is the version that ran ("$LATEST" or a number).
	ExecutedVersion string
	// RequestID is the invocation's request ID; the API returns it as x-amzn-RequestId.
	RequestID string
	// Finish, when set, is to be called once the response is sent: it writes what the
	// invocation still has to log (worker.Result.Finish).
	Finish func()
}

// Invoker runs invocations. Errors it returns are *lambdaerr.Error values (or wrap them): the
// API renders them as they are.
type Invoker interface {
	Invoke(ctx context.Context, req *Request) (*Response, error)
}
