// Command ember is Ember's single binary: `ember server` runs the platform, and the other
// commands are clients of it. See internal/cli.
package main

import (
	"context"
	"os"

	"github.com/ember-serverless/ember/internal/cli"
)

func main() {
	// TODO(lead): enable once internal/sandbox/jail lands; it must run before anything else,
	// because the jail backend re-executes this binary as a sandbox's init process.
	// jail.MaybeRunInit()

	os.Exit(cli.Main(context.Background(), os.Args[1:], cli.IO{In: os.Stdin, Out: os.Stdout, Err: os.Stderr}))
}
