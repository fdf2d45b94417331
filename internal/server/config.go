package server

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/ember-serverless/ember/internal/async"
	"github.com/ember-serverless/ember/internal/limits"
	"github.com/ember-serverless/ember/internal/sandbox/cgsandbox"
	"github.com/ember-serverless/ember/internal/state"
	"github.com/ember-serverless/ember/internal/worker"
)

// The server's defaults, the one place `ember server`'s flags and DefaultConfig take them from.
// The default region and account, and Lambda's limits, are in internal/limits.
const (
	DefaultListen      = "127.0.0.1:9777"
	DefaultIdleTimeout = 10 * time.Minute
	// DefaultSandboxMaxLifetime is how long a sandbox lives at most, as Lambda recycles its
	// execution environments after a few hours.
	DefaultSandboxMaxLifetime = 4 * time.Hour
	// DefaultIsolation is the sandbox backend used when none is named.
	DefaultIsolation = "jail"
)

// Config is everything `ember server` can be told.
type Config struct {
	// Listen is the API's HOST:PORT.
	Listen string
	// DataDir holds state, code and credentials.
	DataDir string
	// Region and AccountID appear in every ARN.
	Region    string
	AccountID string
	// Isolation names the sandbox backend: "jail", "gvisor", "microvm" or "none".
	Isolation string
	// IdleTimeout is how long an idle sandbox is kept warm before it is reclaimed.
	IdleTimeout time.Duration
	// SandboxMaxLifetime is how long a sandbox may live before it is destroyed when next
	// released (or reclaimed while idle), so that none runs for ever.
	SandboxMaxLifetime time.Duration
	// Workers is how many workers run sandboxes in this process, behind placement.
	Workers int
	// WorkerMemoryMB is each worker's memory capacity: placement keeps the sum of its
	// sandboxes' MemorySize within it. 0: the host's memory less the reserve, shared equally.
	WorkerMemoryMB int64
	// MemoryReserveMB is the host memory placement keeps free: no sandbox starts when the
	// host's available memory less its MemorySize would fall below it. 0: a tenth of the
	// host's memory (at least 256 MB); -1: none.
	MemoryReserveMB int64
	// ConcurrencyLimit is the account's concurrent executions (limits.ConcurrentExecutions by
	// default); reserved concurrency must leave limits.MinUnreservedConcurrency of it.
	ConcurrencyLimit int
	// CPULimit says when a jailed sandbox is held to the CPU share its memory buys: "burst"
	// (once an init or invocation has run for CPUBurst) or "strict" (always).
	CPULimit string
	CPUBurst time.Duration
	// FreezeAfter is how long a sandbox stays idle before it is frozen; zero never freezes.
	FreezeAfter time.Duration
	// NATSURL, when set, points at an external NATS cluster instead of the embedded server.
	NATSURL string
	// NATSListen, when set, is a HOST:PORT on which the embedded NATS server accepts clients,
	// so that they can read destination and dead-letter subjects. Unauthenticated: keep it on
	// loopback.
	NATSListen string
	// AsyncRetryBaseDelay is the wait before an asynchronous event's first retry after a
	// function error; the second waits twice as long (Lambda: about one, then two minutes).
	AsyncRetryBaseDelay time.Duration
	// AsyncAckWait is how long a queued event may run without a sign of life from its poller
	// before it is handed out again: after a crash, how long a restarted server waits for it.
	AsyncAckWait time.Duration
	// Replicas is the replica count of every bucket and stream; 0 lets the state package
	// choose (1 embedded; 3 on an external cluster of three or more servers).
	Replicas int
	// StoreGrace is how long the state store may fail its health checks, recovery included,
	// before the server stops with an error for its supervisor to act on.
	StoreGrace time.Duration
	// DebugListen, when set, is a HOST:PORT serving Go's pprof profiles, apart from the API.
	DebugListen string
	// MetricsListen, when set, is a HOST:PORT serving Prometheus metrics at /metrics, apart
	// from the API (which needs a signature for every path).
	MetricsListen string
	// MaxConnections bounds the API's open connections; past it, the longest-idle one is closed
	// to make room (or the new one, when every one has a request in progress). 0 means
	// DefaultMaxConnections.
	MaxConnections int
	// CodeGCInterval is how often code no function or layer references is deleted from the
	// code store and its unpacked cache, besides soon after each function delete; 0 turns
	// collection off.
	CodeGCInterval time.Duration
	// CodeGCGrace is how recently stored or used code is kept although nothing references it
	// (DefaultCodeGCGrace when 0).
	CodeGCGrace time.Duration
}

// DefaultDataDir is $XDG_DATA_HOME/ember, or ~/.local/share/ember.
func DefaultDataDir() string {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "ember")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "ember")
	}
	return filepath.Join(home, ".local", "share", "ember")
}

// DefaultConfig is the configuration `ember server` starts with when given no flags.
func DefaultConfig() Config {
	return Config{
		Listen:      DefaultListen,
		DataDir:     DefaultDataDir(),
		Region:      limits.DefaultRegion,
		AccountID:   limits.DefaultAccountID,
		Isolation:   DefaultIsolation,
		IdleTimeout: DefaultIdleTimeout,

		SandboxMaxLifetime: DefaultSandboxMaxLifetime,
		Workers:            1,
		ConcurrencyLimit:   limits.ConcurrentExecutions,

		StoreGrace:  state.DefaultHealthGrace,
		CPULimit:    string(cgsandbox.CPULimitBurst),
		CPUBurst:    cgsandbox.DefaultCPUBurst,
		FreezeAfter: worker.DefaultFreezeAfter,

		MaxConnections: DefaultMaxConnections,

		AsyncRetryBaseDelay: async.DefaultRetryBaseDelay,
		AsyncAckWait:        async.DefaultAckWait,
		CodeGCInterval:      DefaultCodeGCInterval,
		CodeGCGrace:         DefaultCodeGCGrace,
	}
}

// Validate reports the first thing wrong with the config.
func (c Config) Validate() error {
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("listen address %q: %w", c.Listen, err)
	}
	if c.DebugListen != "" {
		if _, _, err := net.SplitHostPort(c.DebugListen); err != nil {
			return fmt.Errorf("debug listen address %q: %w", c.DebugListen, err)
		}
	}
	if c.MetricsListen != "" {
		if _, _, err := net.SplitHostPort(c.MetricsListen); err != nil {
			return fmt.Errorf("metrics listen address %q: %w", c.MetricsListen, err)
		}
	}
	if c.MaxConnections < 0 {
		return fmt.Errorf("max connections %d: must not be negative", c.MaxConnections)
	}
	if c.DataDir == "" {
		return errors.New("a data dir is required")
	}
	if c.Region == "" {
		return errors.New("a region is required")
	}
	if !limits.ValidAccountID(c.AccountID) {
		return fmt.Errorf("account id %q: must be 12 digits", c.AccountID)
	}
	if c.AsyncRetryBaseDelay < 0 || c.AsyncAckWait < 0 {
		return fmt.Errorf("async retry delay %s and ack wait %s: must not be negative", c.AsyncRetryBaseDelay, c.AsyncAckWait)
	}
	if c.AsyncAckWait > 0 && c.AsyncAckWait < time.Second {
		return fmt.Errorf("async ack wait %s: must be at least 1s", c.AsyncAckWait)
	}
	if err := c.stateConfig().Validate(); err != nil {
		return err
	}
	if c.StoreGrace <= 0 {
		return fmt.Errorf("store grace %s: must be positive", c.StoreGrace)
	}
	if c.CodeGCInterval < 0 {
		return fmt.Errorf("code gc interval %s: must not be negative", c.CodeGCInterval)
	}
	if c.CodeGCGrace != 0 && c.CodeGCGrace < time.Minute {
		return fmt.Errorf("code gc grace %s: must be at least a minute, longer than a create takes to store its code and record", c.CodeGCGrace)
	}
	if c.IdleTimeout <= 0 {
		return fmt.Errorf("idle timeout %s: must be positive", c.IdleTimeout)
	}
	if c.Workers < 1 || c.Workers > 64 {
		return fmt.Errorf("workers %d: must be from 1 to 64", c.Workers)
	}
	if c.WorkerMemoryMB < 0 || c.MemoryReserveMB < -1 {
		return fmt.Errorf("worker memory %d MB and memory reserve %d MB: must not be negative", c.WorkerMemoryMB, c.MemoryReserveMB)
	}
	if c.SandboxMaxLifetime < 0 {
		return fmt.Errorf("sandbox max lifetime %s: must not be negative", c.SandboxMaxLifetime)
	}
	if c.ConcurrencyLimit != 0 && c.ConcurrencyLimit < limits.MinUnreservedConcurrency {
		return fmt.Errorf("concurrency limit %d: must be at least %d, the concurrency that always stays unreserved", c.ConcurrencyLimit, limits.MinUnreservedConcurrency)
	}
	if err := cgsandbox.CPULimit(c.CPULimit).Validate(); err != nil {
		return err
	}
	if c.CPUBurst <= 0 {
		return fmt.Errorf("CPU burst %s: must be positive", c.CPUBurst)
	}
	if c.FreezeAfter < 0 {
		return fmt.Errorf("freeze after %s: must not be negative", c.FreezeAfter)
	}
	return nil
}

// stateConfig is the state store's configuration: checked every StoreGrace/4 (at most every
// state.DefaultHealthInterval), given up on after StoreGrace.
func (c Config) stateConfig() state.Config {
	return state.Config{DataDir: c.DataDir, URL: c.NATSURL, Replicas: c.Replicas, ClientListen: c.NATSListen,
		HealthInterval: min(state.DefaultHealthInterval, c.StoreGrace/4), HealthGrace: c.StoreGrace}
}
