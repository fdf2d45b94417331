//go:build !linux

package jail

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"

	"github.com/ember-serverless/ember/internal/sandbox"
)

// MaybeRunInit does nothing on systems without the jail backend.
func MaybeRunInit() {}

// Backend is unavailable off Linux.
type Backend struct{}

// New fails with ErrUnsupported off Linux.
func New(Config, *slog.Logger) (*Backend, error) {
	return nil, fmt.Errorf("%w: jails need Linux, not %s", ErrUnsupported, runtime.GOOS)
}

// Name is "jail".
func (*Backend) Name() string { return "jail" }

// Create always fails off Linux.
func (*Backend) Create(context.Context, sandbox.Spec) (sandbox.Sandbox, error) {
	return nil, ErrUnsupported
}

// Close does nothing.
func (*Backend) Close() error { return nil }
