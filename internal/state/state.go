package state

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Config says where Ember's state lives.
type Config struct {
	// DataDir holds the embedded server's JetStream files (under DataDir/jetstream). Ignored
	// when URL is set.
	DataDir string
	// URL, when set, is an external NATS cluster to use instead of the embedded server.
	URL string
	// Replicas is the replica count for streams and buckets (1 embedded; 3 on a cluster).
	Replicas int
}

// Validate reports whether the config can be used.
func (c Config) Validate() error {
	if c.URL == "" && c.DataDir == "" {
		return errors.New("state: a data dir or a NATS URL is required")
	}
	if c.Replicas < 0 || c.Replicas > 5 {
		return fmt.Errorf("state: replicas %d: must be 1 to 5", c.Replicas)
	}
	return nil
}

// State is an open connection to JetStream, and the embedded server behind it if there is one.
type State struct {
	cfg    Config
	srv    *server.Server
	nc     *nats.Conn
	js     jetstream.JetStream
	logger *slog.Logger
}

// Open starts the embedded JetStream server in cfg.DataDir (or connects to cfg.URL) and returns
// the connection.
func Open(ctx context.Context, cfg Config, logger *slog.Logger) (*State, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Replicas == 0 {
		cfg.Replicas = 1
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &State{cfg: cfg, logger: logger}
	url := cfg.URL
	var opts []nats.Option
	if url == "" {
		srv, err := server.NewServer(&server.Options{
			ServerName:         "ember",
			DontListen:         true,
			JetStream:          true,
			StoreDir:           filepath.Join(cfg.DataDir, "jetstream"),
			NoSigs:             true,
			MaxPayload:         8 << 20,
			JetStreamMaxMemory: 256 << 20,
		})
		if err != nil {
			return nil, fmt.Errorf("state: embedded server: %w", err)
		}
		srv.Start()
		if !srv.ReadyForConnections(30 * time.Second) {
			srv.Shutdown()
			return nil, errors.New("state: embedded server did not become ready in 30s")
		}
		s.srv = srv
		opts = append(opts, nats.InProcessServer(srv))
		url = srv.ClientURL()
	}
	opts = append(opts, nats.Name("ember"), nats.MaxReconnects(-1))
	nc, err := nats.Connect(url, opts...)
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
	return s, nil
}

// JetStream is the JetStream context every bucket and stream is made from.
func (s *State) JetStream() jetstream.JetStream { return s.js }

// Conn is the underlying NATS connection.
func (s *State) Conn() *nats.Conn { return s.nc }

// Replicas is the replica count buckets and streams should be created with.
func (s *State) Replicas() int { return s.cfg.Replicas }

// Close drains the connection and stops the embedded server, if any.
func (s *State) Close() error {
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
