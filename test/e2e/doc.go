// Package e2e is Ember's end-to-end test suite. It builds the real `ember` binary and the test
// functions in test/functions, starts `ember server` processes with temporary data dirs on
// loopback ports they pick themselves (--listen 127.0.0.1:0, the port read from the server's
// "ember is serving" log line, so no port is freed and reused), and drives them from outside
// exactly as users do: with the AWS SDK for Go v2, with the AWS CLI v2 (/usr/bin/aws) and with
// the `ember` CLI. A missing prerequisite (the AWS CLI, an interpreter) skips a test, or fails
// it when CI is set (internal/testenv).
//
// It owns nothing the server uses; it only speaks the wire API. Set EMBER_E2E_ISOLATION to run
// the servers with a given --isolation backend, and EMBER_E2E_VERBOSE=1 to stream their logs.
package e2e
