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
)

// moduleRoot is the directory holding go.mod: two levels above this file.
func moduleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Static builds the package at pkg, a path relative to the module root (for example
// "internal/worker/testdata/fn"), as a static binary at out.
func Static(out, pkg string) error {
	cmd := exec.Command("go", "build", "-o", out, "./"+pkg)
	cmd.Dir = moduleRoot()
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", pkg, err, b)
	}
	return nil
}

// StaticTest compiles the tests of the package at pkg, a path relative to the module root, into
// a static test binary at out (go test -c), to be run where there is no go tool.
func StaticTest(out, pkg string) error {
	cmd := exec.Command("go", "test", "-c", "-o", out, "./"+pkg)
	cmd.Dir = moduleRoot()
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go test -c %s: %w\n%s", pkg, err, b)
	}
	return nil
}

// ModuleRoot is the directory holding the module's go.mod.
func ModuleRoot() string { return filepath.Clean(moduleRoot()) }
