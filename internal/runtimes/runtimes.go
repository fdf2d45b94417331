// Package runtimes knows Lambda's runtime identifiers: which ones this server can run, and how
// a sandbox starts each one's runtime process. It must not start processes itself.
package runtimes

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/ember-serverless/ember/internal/lambdaerr"
)

// Runtime is one runtime identifier this server can run.
type Runtime struct {
	// Name is the identifier, e.g. "provided.al2023".
	Name string
	// Custom is true for the OS-only runtimes whose `bootstrap` is the runtime.
	Custom bool
}

var supported = map[string]Runtime{
	"provided.al2023": {Name: "provided.al2023", Custom: true},
	"provided.al2":    {Name: "provided.al2", Custom: true},
	"provided":        {Name: "provided", Custom: true},
}

// Lookup returns the runtime named name, if this server can run it.
func Lookup(name string) (Runtime, bool) {
	r, ok := supported[name]
	return r, ok
}

// Supported lists the runtime identifiers this server can run, sorted.
func Supported() []string {
	names := make([]string, 0, len(supported))
	for n := range supported {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ErrorTypeInvalidEntrypoint is the function error Lambda reports when there is nothing to run.
const ErrorTypeInvalidEntrypoint = "Runtime.InvalidEntrypoint"

// EntrypointError says a function version has no runtime to start. It is reported as the
// invocation's function error, not as an API error.
type EntrypointError struct{ Message string }

func (e *EntrypointError) Error() string { return e.Message }

// Command is the process a sandbox starts for runtime r, as the function sees the paths:
// for custom runtimes /var/task/bootstrap, else /opt/bootstrap from a layer.
func (r Runtime) Command(codeDir string, layerDirs []string) ([]string, error) {
	if !r.Custom {
		return nil, lambdaerr.New(lambdaerr.InvalidRuntime, "runtime %s has no command", r.Name)
	}
	if isExecutable(filepath.Join(codeDir, "bootstrap")) {
		return []string{"/var/task/bootstrap"}, nil
	}
	for _, d := range layerDirs {
		if isExecutable(filepath.Join(d, "bootstrap")) {
			return []string{"/opt/bootstrap"}, nil
		}
	}
	return nil, &EntrypointError{Message: fmt.Sprintf("Couldn't find valid bootstrap(s): [/var/task/bootstrap /opt/bootstrap]")}
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}
