// Package runtimes knows Lambda's runtime identifiers: which ones this server can run (the
// OS-only provided runtimes always; Node.js and Python ones when a matching interpreter is
// installed), how a sandbox starts each one's runtime process, and the runtime clients for
// Node.js and Python that it embeds and writes out for sandboxes to mount at /var/runtime.
//
// The package detects interpreters by running them (`node --version`, `python3.X --version`)
// when Detect builds a Table; it keeps no table of its own: the server detects one at start and
// hands it to the roles that need it (decision 1: no globals). It must not start sandboxes or serve the Runtime API, which belong to
// internal/sandbox and internal/worker.
package runtimes
