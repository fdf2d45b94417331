// Package gobuild builds the project's own Go test programs (test functions, extensions,
// runtimes) into static binaries for tests to run in sandboxes. It is for tests only and must
// not be imported by the server.
package gobuild

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// ModuleRoot is the directory holding the module's go.mod: two levels above this file.
func ModuleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Static builds the package at pkg, a path relative to the module root (for example
// "internal/worker/testdata/fn"), as a static binary at out.
func Static(out, pkg string) error { return static(out, pkg, "build") }

// StaticTest compiles the tests of the package at pkg, a path relative to the module root, into
// a static test binary at out (go test -c), to be run where there is no go tool.
func StaticTest(out, pkg string) error { return static(out, pkg, "test", "-c") }

// static runs `go <verb...> -o out ./pkg` in the module root with cgo off.
func static(out, pkg string, verb ...string) error {
	cmd := exec.Command("go", append(verb, "-o", out, "./"+pkg)...)
	cmd.Dir = ModuleRoot()
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go %s %s: %w\n%s", strings.Join(verb, " "), pkg, err, b)
	}
	return nil
}
