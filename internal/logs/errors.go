package logs

import "fmt"

// ErrorType is a CloudWatch Logs error name, as it appears in the __type field.
type ErrorType string

// Error types from the CloudWatch Logs API model (logs/2014-03-28).
const (
	ResourceNotFound      ErrorType = "ResourceNotFoundException"
	ResourceAlreadyExists ErrorType = "ResourceAlreadyExistsException"
	InvalidParameter      ErrorType = "InvalidParameterException"
	ServiceUnavailable    ErrorType = "ServiceUnavailableException"
	UnknownOperation      ErrorType = "UnknownOperationException"
	Serialization         ErrorType = "SerializationException"
)

// Error is an error the CloudWatch Logs API returns to a client. Handler renders it as
// {"__type": Type, "message": Message}; any other error is rendered as a
// ServiceUnavailableException.
type Error struct {
	Type    ErrorType
	Message string
}

func (e *Error) Error() string { return string(e.Type) + ": " + e.Message }

// Is makes errors.Is match any *Error of the same type, so callers can test against the
// sentinels below whatever the message.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Type == e.Type
}

// Sentinels callers classify errors with (errors.Is matches on the type only).
var (
	ErrGroupNotFound  = &Error{Type: ResourceNotFound, Message: "The specified log group does not exist."}
	ErrStreamNotFound = &Error{Type: ResourceNotFound, Message: "The specified log stream does not exist."}
	ErrGroupExists    = &Error{Type: ResourceAlreadyExists, Message: "The specified log group already exists"}
	ErrInvalidToken   = &Error{Type: InvalidParameter, Message: "The specified nextToken is invalid."}
)

func invalidParam(format string, args ...any) *Error {
	return &Error{Type: InvalidParameter, Message: fmt.Sprintf(format, args...)}
}
