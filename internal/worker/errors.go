package worker

import "errors"

// ErrSandboxGone is returned when an invocation is offered to a sandbox that is no longer
// usable.
var ErrSandboxGone = errors.New("sandbox is gone")
