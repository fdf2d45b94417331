package server

import (
	"fmt"
	"log/slog"

	"github.com/ember-serverless/ember/internal/sandbox"
	"github.com/ember-serverless/ember/internal/sandbox/process"
)

// newBackend returns the sandbox backend the operator asked for.
func newBackend(isolation, dataDir string, logger *slog.Logger) (sandbox.Backend, error) {
	switch isolation {
	case "none", "process":
		return process.New(), nil
	default:
		return nil, fmt.Errorf("isolation %q: not available on this server (choose none)", isolation)
	}
}
