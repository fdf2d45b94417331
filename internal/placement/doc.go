// Package placement chooses the worker a new sandbox goes on. Pack (the server's) packs
// sandboxes onto workers by memory, best fit, preferring a worker that already runs the
// function's code, and refuses a sandbox, with a TooManyRequestsException of Ember's reason
// ReasonCapacity wrapping assign.ErrNoCapacity, when no worker has room for its MemorySize or
// the host's available memory would fall below the reserve. Local places everything on one
// host, unbounded. The interface (assign.Placement) is what a multi-host placement implements.
// It must not track sandboxes (internal/assign does) nor create them (internal/worker does).
package placement
