// Package worker owns sandboxes on one host: it creates them through a sandbox.Backend, serves
// each one's Runtime API (/2018-06-01/runtime/...), hands it invocations one at a time, and
// turns what the runtime does — responses, errors, exits, timeouts and its output — into
// results and Lambda's START/END/REPORT log lines. On the same address it serves the Extensions
// API (/2020-01-01/extension/...) to the external extensions it finds in the function's
// /opt/extensions and the Telemetry API (/2022-07-01/telemetry), delivering platform and
// function events to extensions' listeners inside the sandbox (see docs/extensions.md). It
// takes and returns internal/invoke's types (SandboxSpec, Invocation, Result, ErrorType). It
// must not decide which sandbox an invoke goes to (internal/assign does) nor know about the
// API or the store.
package worker
