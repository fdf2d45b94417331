// Package runtimes knows Lambda's runtime identifiers: which ones this server can run (the
// OS-only provided runtimes always; Node.js and Python ones when a matching interpreter is
// installed), how a sandbox starts each one's runtime process, and the runtime clients for
// Node.js and Python that it embeds and writes out for sandboxes to mount at /var/runtime.
//
// The package detects interpreters by running them once (`node --version`,
// `python3.X --version`); it must not start sandboxes or serve the Runtime API, which belong to
// internal/sandbox and internal/worker.
package runtimes
