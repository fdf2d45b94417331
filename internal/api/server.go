package api

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ember-serverless/ember/internal/auth"
	"github.com/ember-serverless/ember/internal/control"
	"github.com/ember-serverless/ember/internal/invoke"
	"github.com/ember-serverless/ember/internal/limits"
)

// The API's own bounds. Lambda's limits and the default region and account are in
// internal/limits.
const (
	// maxControlRequest bounds the body of every operation but Invoke and the code uploads.
	maxControlRequest = 1 << 20
	// maxLogsRequest bounds a CloudWatch Logs request (PutLogEvents takes up to 1 MB of events).
	maxLogsRequest = 2 << 20
	// CodeURLExpiry is how long a GetFunction code location stays valid, as Lambda's presigned
	// S3 URLs.
	CodeURLExpiry = 10 * time.Minute
)

// Config is what the API is told about the server it fronts.
type Config struct {
	// Region and AccountID appear in ARNs and account settings.
	Region    string
	AccountID string
	// PublicURL is the base URL clients reach the server at (e.g. "http://127.0.0.1:9777"),
	// used for code download locations. When empty, each request's own Host is used.
	PublicURL string
	// CodeURLSecret signs code download locations. When empty a random one is made, and
	// locations do not survive a restart.
	CodeURLSecret []byte
	// ConcurrentExecutions is the account's concurrency limit that GetAccountSettings reports.
	ConcurrentExecutions int
	// MaxUnauthenticatedBytes bounds the body bytes held at once for requests not yet
	// authenticated; 0 means DefaultMaxUnauthenticatedBytes.
	MaxUnauthenticatedBytes int64
}

// Validate reports the first thing wrong with the config.
func (c Config) Validate() error {
	if c.Region == "" {
		return errors.New("api: a region is required")
	}
	if !limits.ValidAccountID(c.AccountID) {
		return fmt.Errorf("api: account id %q: must be 12 digits", c.AccountID)
	}
	if c.PublicURL != "" && !strings.HasPrefix(c.PublicURL, "http://") && !strings.HasPrefix(c.PublicURL, "https://") {
		return fmt.Errorf("api: public URL %q: must start with http:// or https://", c.PublicURL)
	}
	if c.ConcurrentExecutions < 0 {
		return fmt.Errorf("api: concurrent executions %d: must not be negative", c.ConcurrentExecutions)
	}
	if c.MaxUnauthenticatedBytes < 0 {
		return fmt.Errorf("api: unauthenticated body budget %d: must not be negative", c.MaxUnauthenticatedBytes)
	}
	return nil
}

// Registry is what the API needs of the function registry (*control.Registry).
type Registry interface {
	Create(ctx context.Context, in *control.CreateFunctionInput) (*control.Function, error)
	Resolve(nameOrARN, qualifier string) (*control.Function, error)
	List(marker string, maxItems int) ([]*control.Function, string, error)
	UpdateCode(ctx context.Context, in *control.UpdateFunctionCodeInput) (*control.Function, error)
	UpdateConfiguration(ctx context.Context, in *control.UpdateFunctionConfigurationInput) (*control.Function, error)
	Delete(ctx context.Context, nameOrARN, qualifier string) error
	Usage() (functions, totalCodeSize int64)
	ListTags(resource string) (map[string]string, error)
	TagResource(ctx context.Context, resource string, tags map[string]string) error
	UntagResource(ctx context.Context, resource string, keys []string) error
	AddPermission(ctx context.Context, in *control.AddPermissionInput) (statement string, err error)
	RemovePermission(ctx context.Context, nameOrARN, qualifier, sid, revisionID string) error
	GetPolicy(nameOrARN, qualifier string) (policy, revisionID string, err error)
	GetRuntimeManagementConfig(nameOrARN, qualifier string) (*control.RuntimeManagementConfig, error)
	PutRuntimeManagementConfig(ctx context.Context, nameOrARN, qualifier, updateOn, versionARN string) (*control.RuntimeManagementConfig, error)
	PublishVersion(ctx context.Context, in *control.PublishVersionInput) (*control.Function, error)
	ListVersions(nameOrARN, marker string, maxItems int) ([]*control.Function, string, error)
	ListAllVersions(marker string, maxItems int) ([]*control.Function, string, error)
	CreateAlias(ctx context.Context, in *control.CreateAliasInput) (*control.Alias, error)
	GetAlias(nameOrARN, alias string) (*control.Alias, error)
	UpdateAlias(ctx context.Context, in *control.UpdateAliasInput) (*control.Alias, error)
	DeleteAlias(ctx context.Context, nameOrARN, alias string) error
	ListAliases(nameOrARN, version, marker string, maxItems int) ([]*control.Alias, string, error)
	PutFunctionConcurrency(ctx context.Context, nameOrARN string, n *int) (*control.Concurrency, error)
	GetFunctionConcurrency(nameOrARN string) (*control.Concurrency, error)
	DeleteFunctionConcurrency(ctx context.Context, nameOrARN string) error
	ReservedTotal() int
	Reserved(name string) (int, bool)
}

var (
	_ Registry   = (*control.Registry)(nil)
	_ CodeReader = control.Codestore{}
)

// CodeReader reads back the package a function's code was stored from, for code downloads.
type CodeReader interface {
	Zip(ctx context.Context, c control.Code) ([]byte, error)
}

// Authenticator checks a request's credentials. body is the request's full body. Errors should
// be *lambdaerr.Error values (MissingAuthenticationTokenException, InvalidSignatureException...).
type Authenticator interface {
	Authenticate(r *http.Request, body []byte) error
}

// VerifierAuth adapts auth's SigV4 verifier to Authenticator.
type VerifierAuth struct{ V *auth.Verifier }

// Authenticate implements Authenticator.
func (a VerifierAuth) Authenticate(r *http.Request, body []byte) error {
	_, err := a.V.Verify(r, body)
	return err
}

// AllowAll is an Authenticator that accepts every request, for tests and trusted setups.
type AllowAll struct{}

// Authenticate implements Authenticator.
func (AllowAll) Authenticate(*http.Request, []byte) error { return nil }

// Option sets a dependency of a Server.
type Option func(*Server)

// WithRegistry sets the function registry (required).
func WithRegistry(r Registry) Option { return func(s *Server) { s.registry = r } }

// WithCodeReader sets where code downloads read packages from (required for GetFunction's
// Code.Location to be served).
func WithCodeReader(c CodeReader) Option { return func(s *Server) { s.code = c } }

// WithInvoker sets what runs invocations (required).
func WithInvoker(i invoke.Invoker) Option { return func(s *Server) { s.invoker = i } }

// WithAuthenticator sets the request authenticator (required; use AllowAll deliberately).
func WithAuthenticator(a Authenticator) Option { return func(s *Server) { s.auth = a } }

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(s *Server) { s.logger = l } }

// WithLogsHandler sets the handler for CloudWatch Logs requests (POST / with an X-Amz-Target of
// Logs_20140328.*), called after authentication with the body restored.
func WithLogsHandler(h http.Handler) Option { return func(s *Server) { s.logs = h } }

// WithClock sets the clock code download locations expire by.
func WithClock(now func() time.Time) Option { return func(s *Server) { s.now = now } }

// Server serves the Lambda API.
type Server struct {
	cfg         Config
	registry    Registry
	layers      Layers
	code        CodeReader
	invoker     invoke.Invoker
	async       Async
	provisioned Provisioned
	esm         EventSourceMappings
	auth        Authenticator
	logs        http.Handler
	logger      *slog.Logger
	now         func() time.Time
	names       control.Config
	mux         *http.ServeMux
	// inFlight is the body bytes held for requests not yet authenticated.
	inFlight atomic.Int64
}

// New builds a Server from cfg and its dependencies.
func New(cfg Config, opts ...Option) (*Server, error) {
	if cfg.Region == "" {
		cfg.Region = limits.DefaultRegion
	}
	if cfg.AccountID == "" {
		cfg.AccountID = limits.DefaultAccountID
	}
	if cfg.ConcurrentExecutions == 0 {
		cfg.ConcurrentExecutions = limits.ConcurrentExecutions
	}
	if cfg.MaxUnauthenticatedBytes == 0 {
		cfg.MaxUnauthenticatedBytes = DefaultMaxUnauthenticatedBytes
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(cfg.CodeURLSecret) == 0 {
		cfg.CodeURLSecret = make([]byte, 32)
		_, _ = rand.Read(cfg.CodeURLSecret)
	}
	s := &Server{cfg: cfg, names: control.Config{Region: cfg.Region, AccountID: cfg.AccountID}}
	for _, o := range opts {
		o(s)
	}
	switch {
	case s.registry == nil:
		return nil, errors.New("api: a registry is required")
	case s.invoker == nil:
		return nil, errors.New("api: an invoker is required")
	case s.auth == nil:
		return nil, errors.New("api: an authenticator is required")
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.mux = s.routes()
	return s, nil
}

// Handler is the API's HTTP handler.
func (s *Server) Handler() http.Handler { return s.mux }
