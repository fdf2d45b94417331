// Package assign is the worker manager: it keeps, per function version, the table of warm
// sandboxes, leases an idle one to each invoke (most recently used first, so load concentrates
// on few sandboxes and the rest can be reclaimed), asks for a new one when none is idle, and
// reclaims sandboxes that stay idle too long or belong to a superseded configuration. It must
// not admit or reject invokes (internal/frontend does) nor run sandboxes (internal/worker does).
package assign
