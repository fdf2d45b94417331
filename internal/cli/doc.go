// Package cli holds the `ember` command line: the `server` command that runs every role in one
// process (through internal/server), and thin client commands (deploy, invoke, ls, rm, logs)
// that talk to a running server over the Lambda and CloudWatch Logs APIs with the AWS SDK for
// Go v2, exactly as any other AWS client would.
//
// It owns flag parsing, packaging a directory into a deployment zip, client credentials and
// endpoint resolution, and what the commands print. It must not reach into the server's
// internals: client commands only speak the wire API, so they work against any Ember (or, with
// the right endpoint and credentials, AWS Lambda itself).
package cli
