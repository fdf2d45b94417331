package server

import (
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/ember-serverless/ember/internal/sandbox"
	"github.com/ember-serverless/ember/internal/sandbox/jail"
	"github.com/ember-serverless/ember/internal/sandbox/process"
)

// newBackend returns the sandbox backend the operator asked for. Only an explicit "none" runs
// function code outside a sandbox.
func newBackend(isolation, dataDir string, logger *slog.Logger) (sandbox.Backend, error) {
	switch isolation {
	case "none":
		return process.New(), nil
	case "jail":
		b, err := jail.New(jail.Config{StateDir: filepath.Join("/run/ember", "jail")}, logger.With("role", "jail"))
		if err != nil {
			return nil, fmt.Errorf("isolation jail: %w", err)
		}
		return b, nil
	default:
		return nil, fmt.Errorf("isolation %q: not available on this server (choose jail or none)", isolation)
	}
}
