// Package e2e is Ember's end-to-end test suite. It builds the real `ember` binary and the test
// functions in test/functions, starts `ember server` processes on free loopback ports with
// temporary data dirs, and drives them from outside exactly as users do: with the AWS SDK for
// Go v2, with the AWS CLI v2 (/usr/bin/aws) and with the `ember` CLI.
//
// It owns nothing the server uses; it only speaks the wire API. Set EMBER_E2E_ISOLATION to run
// the servers with a given --isolation backend, and EMBER_E2E_VERBOSE=1 to stream their logs.
package e2e
