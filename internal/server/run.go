package server

import (
	"context"
	"errors"
	"log/slog"
)

// DefaultIsolation is the sandbox backend used when none is named.
const DefaultIsolation = "process"

// Run starts every role and serves the API until ctx is done. On a first start it prints the
// generated root credentials to out once.
func Run(ctx context.Context, cfg Config, logger *slog.Logger) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	return errors.New("server: not wired yet")
}
