package state

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Defaults, in one place.
const (
	// DefaultClusterReplicas is the replica count on an external cluster of three or more
	// servers when Config.Replicas is not set (DESIGN decision 2: R3).
	DefaultClusterReplicas = 3
	// MaxReplicas is JetStream's limit on a stream's replicas.
	MaxReplicas = 5
	// DefaultHealthInterval is how often the store's health is checked.
	DefaultHealthInterval = 10 * time.Second
	// DefaultHealthGrace is how long the store may fail its checks before the State gives up.
	DefaultHealthGrace = time.Minute
)

// Config says where Ember's state lives.
type Config struct {
	// DataDir holds the embedded server's JetStream files (under DataDir/jetstream). Ignored
	// when URL is set.
	DataDir string
	// URL, when set, is an external NATS server or cluster to use instead of the embedded
	// server: one URL or several separated by commas.
	URL string
	// Replicas is the replica count of every stream and bucket. 0 chooses: 1 on the embedded
	// server (a single node, so nothing else is possible), and on an external cluster
	// DefaultClusterReplicas, or the number of servers the cluster reports if it is smaller.
	Replicas int
	// HealthInterval is how often the store is checked (DefaultHealthInterval when 0).
	HealthInterval time.Duration
	// HealthGrace is how long the store may keep failing its checks, recovery included, before
	// Failed is closed (DefaultHealthGrace when 0).
	HealthGrace time.Duration
	// ClientListen, when set, is a HOST:PORT on which the embedded server accepts NATS
	// clients (for example to read destination subjects). It has no authentication: every
	// client that reaches it can read and change all state. Off when empty.
	ClientListen string
}

// Validate reports whether the config can be used.
func (c Config) Validate() error {
	if c.URL == "" && c.DataDir == "" {
		return errors.New("state: a data dir or a NATS URL is required")
	}
	if c.Replicas < 0 || c.Replicas > MaxReplicas {
		return fmt.Errorf("state: replicas %d: must be 1 to %d", c.Replicas, MaxReplicas)
	}
	if c.URL == "" && c.Replicas > 1 {
		return fmt.Errorf("state: replicas %d: the embedded server is a single node; more replicas need an external cluster (a NATS URL)", c.Replicas)
	}
	if c.HealthInterval < 0 || c.HealthGrace < 0 {
		return errors.New("state: the health interval and grace must not be negative")
	}
	if c.ClientListen != "" {
		if _, _, err := clientAddr(c.ClientListen); err != nil {
			return err
		}
	}
	return nil
}

// Option configures a State.
type Option func(*State)

// WithHealthProbe replaces the store's health check (a KV round trip) with probe; for tests of
// what happens when the store is unhealthy.
func WithHealthProbe(probe func(ctx context.Context) error) Option {
	return func(s *State) { s.probe = probe }
}

// WithServerLogger sets the logger the embedded NATS server's own log goes to (the State's
// logger when not set).
func WithServerLogger(l *slog.Logger) Option { return func(s *State) { s.srvLogger = l } }

// State is an open connection to JetStream, and the embedded server behind it if there is one.
type State struct {
	cfg    Config
	srv    *server.Server
	nc     *nats.Conn
	js     jetstream.JetStream
	logger *slog.Logger
	probe  func(ctx context.Context) error
	// srvLogger receives the embedded server's log.
	srvLogger *slog.Logger

	closing  atomic.Bool
	failOnce sync.Once
	failed   chan struct{}
	failErr  error
	stop     context.CancelFunc
	done     chan struct{}
}

// Open starts the embedded JetStream server in cfg.DataDir (or connects to cfg.URL) and returns
// the connection. The State watches the store's health until Close: see Failed.
func Open(ctx context.Context, cfg Config, logger *slog.Logger, opts ...Option) (*State, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cfg.HealthInterval == 0 {
		cfg.HealthInterval = DefaultHealthInterval
	}
	if cfg.HealthGrace == 0 {
		cfg.HealthGrace = DefaultHealthGrace
	}
	s := &State{cfg: cfg, logger: logger, failed: make(chan struct{}), done: make(chan struct{})}
	for _, o := range opts {
		o(s)
	}
	url := cfg.URL
	nopts := []nats.Option{nats.Name("ember"), nats.MaxReconnects(-1),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if s.closing.Load() {
				return // Close disconnects on purpose
			}
			logger.Warn("state store connection lost; reconnecting", "err", err)
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			logger.Info("state store connection restored", "server", nc.ConnectedUrlRedacted())
		}),
		nats.ClosedHandler(func(nc *nats.Conn) {
			if err := nc.LastError(); err != nil && !s.closing.Load() {
				s.fail(fmt.Errorf("state: the connection to the store closed: %w", err))
			}
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subject := ""
			if sub != nil {
				subject = sub.Subject
			}
			logger.Error("state store error", "subject", subject, "err", err)
		}),
	}
	if url == "" {
		sopts := &server.Options{
			ServerName:             "ember",
			DontListen:             true,
			JetStream:              true,
			StoreDir:               s.storeDir(),
			NoSigs:                 true,
			DisableJetStreamBanner: true,
			MaxPayload:             8 << 20,
			JetStreamMaxMemory:     embeddedMaxMemory,
		}
		if cfg.ClientListen != "" {
			sopts.DontListen = false
			sopts.Host, sopts.Port, _ = clientAddr(cfg.ClientListen)
		}
		srv, err := server.NewServer(sopts)
		if err != nil {
			return nil, fmt.Errorf("state: embedded server: %w", err)
		}
		if s.srvLogger == nil {
			s.srvLogger = logger
		}
		srv.SetLoggerV2(natsLogger{s.srvLogger}, s.srvLogger.Enabled(ctx, slog.LevelDebug), false, false)
		srv.Start()
		if !srv.ReadyForConnections(30 * time.Second) {
			srv.Shutdown()
			return nil, errors.New("state: embedded server did not become ready in 30s")
		}
		s.srv = srv
		nopts = append(nopts, nats.InProcessServer(srv))
		url = srv.ClientURL()
	}
	nc, err := nats.Connect(url, nopts...)
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("state: connect %s: %w", url, err)
	}
	s.nc = nc
	js, err := jetstream.New(nc)
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("state: jetstream: %w", err)
	}
	s.js = js
	if s.cfg.Replicas == 0 {
		s.cfg.Replicas = s.chooseReplicas()
	}
	if s.probe == nil {
		if s.probe, err = s.kvProbe(ctx); err != nil {
			s.Close()
			return nil, err
		}
	}
	bg, stop := context.WithCancel(context.Background())
	s.stop = stop
	go s.watchHealth(bg)
	return s, nil
}

// embeddedMaxMemory bounds the embedded server's memory-backed streams.
const embeddedMaxMemory = 256 << 20

func (s *State) storeDir() string { return filepath.Join(s.cfg.DataDir, "jetstream") }

// chooseReplicas is the replica count when none was configured: 1 on a single server, and on a
// cluster DefaultClusterReplicas or the cluster's size if smaller.
func (s *State) chooseReplicas() int {
	if s.srv != nil || s.nc.ConnectedClusterName() == "" {
		return 1
	}
	return max(1, min(DefaultClusterReplicas, len(s.nc.Servers())))
}

// JetStream is the JetStream context every bucket and stream is made from.
func (s *State) JetStream() jetstream.JetStream { return s.js }

// Conn is the underlying NATS connection.
func (s *State) Conn() *nats.Conn { return s.nc }

// Replicas is the replica count every bucket and stream must be created with.
func (s *State) Replicas() int { return s.cfg.Replicas }

// Close stops watching health, drains the connection and stops the embedded server, if any.
func (s *State) Close() error {
	if s.stop != nil {
		s.stop()
		<-s.done
		s.stop = nil
	}
	s.closing.Store(true)
	if s.nc != nil {
		_ = s.nc.Drain()
		s.nc.Close()
	}
	if s.srv != nil {
		s.srv.Shutdown()
		s.srv.WaitForShutdown()
	}
	return nil
}

// clientAddr splits a HOST:PORT for the embedded server's client listener.
func clientAddr(addr string) (string, int, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("state: client listen address %q: %w", addr, err)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return "", 0, fmt.Errorf("state: client listen address %q: bad port", addr)
	}
	return host, n, nil
}
