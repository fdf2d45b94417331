// Command ember-init is the first process of every jail sandbox: `ember server` starts it in
// the sandbox's new namespaces, it builds the sandbox's root and becomes the function's
// runtime (see internal/sandbox/jail). It is its own small program so that starting a
// sandbox does not run the package initialization of the whole server (several times this
// program's, on every cold start: bench/README.md has the figures). The server looks for it
// next to its own binary;
// without it, sandboxes start by re-running the server binary instead.
package main

import (
	"fmt"
	"os"

	"github.com/ember-serverless/ember/internal/sandbox/jail"
)

func main() {
	jail.MaybeRunInit()
	fmt.Fprintln(os.Stderr, "ember-init is started by `ember server` for each sandbox; it is not a command to run")
	os.Exit(2)
}
