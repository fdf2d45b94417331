package sandboxtest

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/ember-serverless/ember/internal/sandbox"
	"github.com/ember-serverless/ember/internal/sandbox/cgroups"
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

// CloseAtEnd closes b when the test ends, failing it if Close does.
func CloseAtEnd(t testing.TB, b sandbox.Closer) {
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
}
