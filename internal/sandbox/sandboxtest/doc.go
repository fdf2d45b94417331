// Package sandboxtest is the conformance suite every sandbox.Backend passes (Run) and the
// escape suite every isolating backend passes (RunEscape). Both drive the Backend interface
// directly with a small aws-lambda-go function (./testruntime) that the suite builds with the
// go tool, and serve it a minimal Runtime API (RuntimeAPI); they do not depend on the worker.
//
// The package is for tests only and must not be imported by production code.
package sandboxtest
