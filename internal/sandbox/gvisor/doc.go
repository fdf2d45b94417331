// Package gvisor is the isolation backend that runs each sandbox under gVisor's runsc, a
// user-space kernel: the function's system calls are served by gVisor's Sentry, never by the
// host kernel, which gives a VM-grade boundary on hosts without hardware virtualization.
//
// Each sandbox is one `runsc run` child of the server with an OCI bundle the backend writes:
// a read-only root assembled from bind mounts (the same layout as the jail), no network but
// loopback (--network=none), the ptrace platform, and the sandbox's own directory bound at
// /.ember, holding three Unix sockets the server listens on: the Runtime API, a control
// socket and a dial socket. The server's own binary, bound read-only at /.ember-init, is the
// container's first process (MaybeRunShim, which main and TestMain call first): it listens on
// 127.0.0.1:9001 inside the sandbox, reports ready on the control socket, waits for Start, then
// leaves a small proxy behind (127.0.0.1:9001 → /.ember/api.sock), starts the function's
// extensions and becomes the runtime by execve. The worker dials into the sandbox's loopback (where extensions'
// Telemetry listeners are, at sandbox.localdomain) through the proxy, which connects out to the
// third socket on the server's request (dial.go).
//
// The package owns the sandbox's runsc processes, cgroup, bundle and sockets. It must not know
// about functions, invokes or the Runtime API protocol: the worker serves that on the listener
// RuntimeAPI returns.
package gvisor
