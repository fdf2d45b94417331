package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// ErrBuild is wrapped when a program the bench needs cannot be built.
var ErrBuild = errors.New("build failed")

// Resolve returns an executable for path: path itself when it is a file, or, when it is a
// directory, the Go package pkg in it (e.g. "." or "./cmd/ember") built into out. Every build is
// CGO_ENABLED=0, as a function's bootstrap must be to run in any sandbox.
func Resolve(ctx context.Context, path, pkg, out string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if !fi.IsDir() {
		return filepath.Abs(path)
	}
	out, err = filepath.Abs(out)
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	cmd.Dir = path
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if len(lines) > 3 {
			lines = append(lines[:3], "…")
		}
		return "", fmt.Errorf("%w: go build %s in %s: %v: %s", ErrBuild, pkg, path, err, strings.Join(lines, " / "))
	}
	return out, nil
}
