package runtimes

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/ember-serverless/ember/internal/lambdaerr"
)

// Family is a kind of runtime: how its runtime process is found and started.
type Family string

// The runtime families Ember runs.
const (
	// Provided runtimes run the function's own `bootstrap`.
	Provided Family = "provided"
	// NodeJS runtimes run Ember's Node.js client under node.
	NodeJS Family = "nodejs"
	// Python runtimes run Ember's Python client under python3.X.
	Python Family = "python"
)

// Runtime is one runtime identifier this server can run.
type Runtime struct {
	// Name is the identifier, e.g. "provided.al2023" or "nodejs20.x".
	Name string
	// Family says how the runtime process is started.
	Family Family
	// Interpreter is the absolute path of the interpreter a managed runtime runs under, the
	// same on the host and inside a sandbox (e.g. /usr/bin/node); empty for provided runtimes.
	Interpreter string
	// Version is the interpreter's version, e.g. "20.20.2"; empty for provided runtimes.
	Version string
}

// Custom is true for the OS-only runtimes whose `bootstrap` is the runtime.
func (r Runtime) Custom() bool { return r.Family == Provided }

// ErrUnknown is wrapped by Lookup's error for a name that is not a runtime Lambda accepts for
// new functions today (a deprecated one, or not a runtime at all).
var ErrUnknown = errors.New("not a current Lambda runtime")

// ErrUnavailable is wrapped by Lookup's error for a current Lambda runtime this server cannot
// run: its interpreter is not installed, or Ember has no client for its language.
var ErrUnavailable = errors.New("runtime not available on this server")

// UnavailableError says why this server cannot run a runtime; its message names what is
// missing and is meant for the user.
type UnavailableError struct {
	Runtime string
	Message string
}

func (e *UnavailableError) Error() string { return e.Message }

// Unwrap makes errors.Is(err, ErrUnavailable) true.
func (e *UnavailableError) Unwrap() error { return ErrUnavailable }

// EntrypointError says a function version has no runtime to start. It is reported as the
// invocation's function error (invoke.RuntimeInvalidEntrypoint), not as an API error.
type EntrypointError struct{ Message string }

func (e *EntrypointError) Error() string { return e.Message }

// RuntimeDir is where a sandbox sees its managed runtime's client files.
const RuntimeDir = "/var/runtime"

// Command is the process a sandbox starts for runtime r, as the function sees the paths. For
// provided runtimes it is /var/task/bootstrap, else /opt/bootstrap from a layer; codeDir and
// layerDirs are where the code and layers are on the host, to look for them. For managed
// runtimes it is the interpreter running the client in clientDir: RuntimeDir where the backend
// mounts the runtime's files there, or their host directory where it mounts nothing.
func (r Runtime) Command(codeDir string, layerDirs []string, clientDir string) ([]string, error) {
	switch r.Family {
	case Provided:
		if isExecutable(filepath.Join(codeDir, "bootstrap")) {
			return []string{"/var/task/bootstrap"}, nil
		}
		for _, d := range layerDirs {
			if isExecutable(filepath.Join(d, "bootstrap")) {
				return []string{"/opt/bootstrap"}, nil
			}
		}
		return nil, &EntrypointError{Message: "Couldn't find valid bootstrap(s): [/var/task/bootstrap /opt/bootstrap]"}
	case NodeJS:
		return []string{r.Interpreter, "--max-http-header-size=81920", clientDir + "/" + nodeClient}, nil
	case Python:
		// -u: output reaches the log at once; -S: no host site-packages (the client adds
		// /opt/python as a site directory itself); -B: never write bytecode into the code.
		return []string{r.Interpreter, "-u", "-S", "-B", clientDir + "/" + pythonClient}, nil
	}
	return nil, lambdaerr.New(lambdaerr.InvalidRuntime, "runtime %s has no command", r.Name)
}

// Env is what a managed runtime adds to a sandbox's environment, as Lambda's do: the execution
// environment's name and the module paths its language searches. Paths are as the function
// sees them.
func (r Runtime) Env() map[string]string {
	switch r.Family {
	case NodeJS:
		major := strings.TrimSuffix(strings.TrimPrefix(r.Name, "nodejs"), ".x")
		return map[string]string{
			"AWS_EXECUTION_ENV": "AWS_Lambda_" + r.Name,
			"NODE_PATH": "/opt/nodejs/node" + major + "/node_modules:/opt/nodejs/node_modules:" +
				"/var/runtime/node_modules:/var/runtime:/var/task",
		}
	case Python:
		return map[string]string{
			"AWS_EXECUTION_ENV": "AWS_Lambda_" + r.Name,
			"PYTHONPATH":        "/var/runtime",
		}
	}
	return nil
}

// isExecutable reports whether p, in a package unpacked on the host, is an executable file.
// A symbolic link counts without being followed: its target (say /usr/bin/python3) is
// resolved inside the sandbox, where the host's file of that name means nothing.
func isExecutable(p string) bool {
	fi, err := os.Lstat(p)
	if err != nil {
		return false
	}
	return fi.Mode()&fs.ModeSymlink != 0 || fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// errorf is the user-facing message for a runtime this server cannot run.
func unavailable(name, format string, args ...any) error {
	return &UnavailableError{Runtime: name, Message: fmt.Sprintf("The runtime parameter of %s is not supported by this server: ", name) +
		fmt.Sprintf(format, args...)}
}
