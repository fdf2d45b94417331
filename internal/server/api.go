package server

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"

	"github.com/ember-serverless/ember/internal/api"
	"github.com/ember-serverless/ember/internal/auth"
	"github.com/ember-serverless/ember/internal/codestore"
	"github.com/ember-serverless/ember/internal/control"
	"github.com/ember-serverless/ember/internal/frontend"
	"github.com/ember-serverless/ember/internal/logs"
)

// newAPI builds the HTTP handler: the Lambda API and the CloudWatch Logs subset behind the same
// authentication. Every path needs a signature, /metrics included: metrics are served on their
// own listener (serveMetrics).
func newAPI(cfg Config, s *Server, code *codestore.Store, fe *frontend.Frontend, keys auth.Keys, logger *slog.Logger) (http.Handler, error) {
	secret, err := loadOrCreateSecret(filepath.Join(cfg.DataDir, "code-url-secret"))
	if err != nil {
		return nil, err
	}
	a, err := api.New(api.Config{Region: cfg.Region, AccountID: cfg.AccountID, CodeURLSecret: secret,
		ConcurrentExecutions: fe.ConcurrencyLimit()},
		api.WithRegistry(s.registry),
		api.WithLayers(s.registry.Layers()),
		api.WithCodeReader(control.Codestore{Store: code}),
		api.WithInvoker(fe),
		api.WithAsync(s.async),
		api.WithProvisioned(s.provisioned),
		api.WithEventSourceMappings(s.esm),
		api.WithAuthenticator(api.VerifierAuth{V: &auth.Verifier{Keys: keys, Region: cfg.Region,
			Services: []string{"lambda", "logs"}, Logger: logger.With("role", "auth")}}),
		api.WithLogsHandler(logs.Handler(s.logs, logger.With("role", "logs"))),
		api.WithLogger(logger.With("role", "api")),
	)
	if err != nil {
		return nil, err
	}
	return a.Handler(), nil
}

// loadOrCreateSecret reads a 32-byte secret from path, creating it on first use.
func loadOrCreateSecret(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil && len(b) == 32 {
		return b, nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	b = make([]byte, 32)
	rand.Read(b)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return nil, fmt.Errorf("writing %s: %w", path, err)
	}
	return b, nil
}
