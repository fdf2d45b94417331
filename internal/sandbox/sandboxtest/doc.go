// Package sandboxtest is the conformance suite every sandbox.Backend passes (Run) and the
// escape suite every isolating backend passes (RunEscape). Both drive the Backend interface
// directly with a small aws-lambda-go function (./testruntime) that the suite builds with the
// go tool, and serve it a minimal Runtime API (RuntimeAPI); they do not depend on the worker.
// The function's events and results are its protocol, in ./testproto.
//
// It also holds what the backends' own tests share: running a script or program in a sandbox
// to its end (RunToExit, RunScript, CheckShellBootstrap), a backend's state directory and
// cgroup parent for a test (StateDir, Opened), and the host processes a backend's Leftovers
// look for (Processes).
//
// The package is for tests only and must not be imported by production code.
package sandboxtest
