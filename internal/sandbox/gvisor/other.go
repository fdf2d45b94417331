//go:build !linux

package gvisor

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"

	"github.com/ember-serverless/ember/internal/sandbox"
)

// MaybeRunShim does nothing on systems without the gvisor backend.
func MaybeRunShim() {}

// Backend is unavailable off Linux.
type Backend struct{}

// New fails with ErrUnsupported off Linux.
func New(Config, *slog.Logger) (*Backend, error) {
	return nil, fmt.Errorf("%w: gVisor needs Linux, not %s", ErrUnsupported, runtime.GOOS)
}

// Name is "gvisor".
func (*Backend) Name() string { return "gvisor" }

// Create always fails off Linux.
func (*Backend) Create(context.Context, sandbox.Spec) (sandbox.Sandbox, error) {
	return nil, ErrUnsupported
}

// Close does nothing.
func (*Backend) Close() error { return nil }
