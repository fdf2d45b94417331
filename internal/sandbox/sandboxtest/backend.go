package sandboxtest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/ember-serverless/ember/internal/sandbox"
	"github.com/ember-serverless/ember/internal/sandbox/cgroups"
	"github.com/ember-serverless/ember/internal/testenv"
)

// StateDir makes a state directory for a backend under test, removed when the test ends, and
// a cgroup parent named after it and this process, so that backends of tests running at once
// stay apart. Unlike t.TempDir's, the directory and its parent can be entered by a sandbox's
// unprivileged users.
func StateDir(t testing.TB, pattern string) (string, cgroups.Config) {
	t.Helper()
	dir, err := os.MkdirTemp("", pattern)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir, cgroups.Config{Prefix: fmt.Sprintf("ember-test-%d-%s", os.Getpid(), filepath.Base(dir))}
}

// Opened takes what a backend's New returned for a test: the backend, closed when the test
// ends. An err wrapping unsupported says this host cannot run the backend: the test needs one
// (testenv.Need, with why and err); any other err fails it.
func Opened[B sandbox.Closer](t testing.TB, b B, err, unsupported error, why string) B {
	t.Helper()
	if errors.Is(err, unsupported) {
		testenv.Need(t, "%s: %v", why, err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return b
}

// Process is a host process as Processes finds it: its /proc directory and its command line,
// each argument ended by a NUL.
type Process struct{ Dir, Cmdline string }

// Processes lists the host's processes whose command line match accepts: what a backend's
// Leftovers and HostUIDs look for.
func Processes(match func(cmdline string) bool) []Process {
	var out []Process
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		if c, err := os.ReadFile(p); err == nil && match(string(c)) {
			out = append(out, Process{Dir: filepath.Dir(p), Cmdline: string(c)})
		}
	}
	return out
}
