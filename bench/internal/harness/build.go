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

// ResolveEmber is Resolve for the ember binary: built from a module root, it is built with
// ember-init beside it (when the module has cmd/ember-init), as `make build` does, so that the
// server starts its sandboxes with it.
func ResolveEmber(ctx context.Context, path, out string) (string, error) {
	bin, err := Resolve(ctx, path, "./cmd/ember", out)
	if err != nil {
		return "", err
	}
	// "ember-init" is jail.InitProgram, spelt out so that the harness imports no sandbox code.
	if fi, err := os.Stat(filepath.Join(path, "cmd", "ember-init")); err == nil && fi.IsDir() {
		if _, err := Resolve(ctx, path, "./cmd/ember-init", filepath.Join(filepath.Dir(bin), "ember-init")); err != nil {
			return "", err
		}
	}
	return bin, nil
}
