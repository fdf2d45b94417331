// Package seccomp builds and installs the system call filter every jailed runtime runs under.
// The filter is a deny list: calls that reach kernel attack surface a function never needs
// (mounts, new namespaces, ptrace, bpf, kernel modules, kexec, reboot, keyrings,
// perf_event_open, userfaultfd, io_uring, clock setting, ...) fail with EPERM, clone3 fails
// with ENOSYS so that libc falls back to clone (whose namespace flags the filter can inspect),
// and everything else is allowed, so Go, Node.js and Python runtimes run unmodified. It is
// pure Go: a classic BPF program assembled here and loaded with seccomp(2).
//
// The package must not decide anything else about a sandbox.
package seccomp
