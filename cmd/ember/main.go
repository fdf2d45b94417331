// Command ember is Ember's single binary: `ember server` runs the platform, and the other
// commands are clients of it. See internal/cli.
package main

import (
	"context"
	"os"

	"github.com/ember-serverless/ember/internal/cli"
	"github.com/ember-serverless/ember/internal/sandbox/gvisor"
	"github.com/ember-serverless/ember/internal/sandbox/jail"
)

func main() {
	// The jail backend re-executes this binary as a sandbox's init process, and the gvisor
	// backend runs it as a sandbox's shim and Runtime API proxy: that must happen before
	// anything else runs.
	jail.MaybeRunInit()
	gvisor.MaybeRunShim()

	os.Exit(cli.Main(context.Background(), os.Args[1:], cli.IO{In: os.Stdin, Out: os.Stdout, Err: os.Stderr}))
}
