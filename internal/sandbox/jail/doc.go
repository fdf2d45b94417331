// Package jail is the default isolation backend on Linux: each sandbox is a runtime process in
// new user, pid, mount, network, ipc, uts and cgroup namespaces, under cgroup limits, with no
// capabilities, no_new_privs and a seccomp filter, inside a read-only root assembled with
// bind mounts (see docs/isolation.md).
//
// A sandbox's first process is the jail's init (MaybeRunInit): cmd/ember-init, found beside the
// server's binary (InitBeside), or else the server's own binary re-executed (main and TestMain
// call MaybeRunInit first). A spawner process, started once, forks the inits. The init sets up
// the namespaces' view of the world, waits for Start, starts the function's extensions, then
// becomes the runtime by execve, so an idle sandbox costs only the runtime's memory.
//
// The package owns the sandbox's processes, cgroup, mounts and Runtime API listener. It must
// not know about functions, invokes or the Runtime API protocol: the worker serves that on
// the listener RuntimeAPI returns.
package jail
