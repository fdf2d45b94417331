package control

import (
	"github.com/google/uuid"

	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ember-serverless/ember/internal/limits"
	"github.com/ember-serverless/ember/internal/runtimes"
	"github.com/ember-serverless/ember/internal/state"
)

// The registry's own defaults and bounds; Lambda's limits are in internal/limits.
const (
	DefaultBucket = "functions"
	// DefaultVersionBucket and DefaultAliasBucket hold published versions and aliases, each
	// under the key NAME.QUALIFIER.
	DefaultVersionBucket = "function-versions"
	DefaultAliasBucket   = "function-aliases"
	// maxCASAttempts bounds the read-modify-write retries of one update under contention.
	maxCASAttempts = 16
)

// ErrNotFound is wrapped by the ResourceNotFoundException the registry returns for a function
// that does not exist, so callers can test for it with errors.Is.
var ErrNotFound = errors.New("function not found")

// Config says which region and account the registry's ARNs are in and where records live.
type Config struct {
	Region    string
	AccountID string
	// Bucket is the KV bucket holding one record per function ("functions" when empty).
	Bucket string
	// LayerBucket is the KV bucket holding layer versions ("layers" when empty).
	LayerBucket string
	// VersionBucket and AliasBucket hold published versions and aliases
	// (DefaultVersionBucket and DefaultAliasBucket when empty).
	VersionBucket, AliasBucket string
	// SnapStart says the server's isolation backend snapshots initialized sandboxes and
	// restores later ones from them: functions with SnapStart.ApplyOn PublishedVersions then
	// report OptimizationStatus On and resolve to sandbox specs that ask for snapshots.
	SnapStart bool
	// Runtimes is what this server runs: a function's Runtime must be one of them. When nil,
	// only the provided runtimes are (runtimes.ProvidedOnly).
	Runtimes RuntimeTable
	// ConcurrencyLimit is the account's concurrent executions (limits.ConcurrentExecutions
	// when 0): reserved concurrency must leave limits.MinUnreservedConcurrency of it unreserved.
	ConcurrencyLimit int
}

// Validate reports the first thing wrong with the config.
func (c Config) Validate() error {
	if c.Region == "" || !validRegion(c.Region) {
		return fmt.Errorf("control: region %q is not a region name", c.Region)
	}
	if !limits.ValidAccountID(c.AccountID) {
		return fmt.Errorf("control: account id %q: must be 12 digits", c.AccountID)
	}
	if c.ConcurrencyLimit != 0 && c.ConcurrencyLimit < limits.MinUnreservedConcurrency {
		return fmt.Errorf("control: concurrency limit %d: must be at least %d", c.ConcurrencyLimit, limits.MinUnreservedConcurrency)
	}
	return nil
}

// StoredCode is what a code store reports about a package it stored.
type StoredCode struct {
	UnzippedSize int64
	// Manifest is the store's record of the package, kept in the function's record as is.
	Manifest json.RawMessage
}

// CodeWriter stores deployment packages. Put validates the zip (returning a *lambdaerr.Error
// such as InvalidParameterValueException for a bad package) and stores it.
type CodeWriter interface {
	Put(ctx context.Context, zip []byte) (StoredCode, error)
}

// PrepareFunc makes a function's code and configuration ready to run (for example unpacking the
// code on the workers). The registry calls it in the background after every create and code or
// configuration update, then marks the function Active/Successful, or Failed with the error's
// message if it returns one.
type PrepareFunc func(ctx context.Context, f *Function) error

// Option configures a Registry.
type Option func(*Registry)

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(r *Registry) { r.logger = l } }

// WithClock sets the clock LastModified is read from.
func WithClock(now func() time.Time) Option { return func(r *Registry) { r.now = now } }

// WithPrepare sets the step run between storing a change and marking it ready. Without it a
// function becomes Active (or its update Successful) right after it is stored.
func WithPrepare(fn PrepareFunc) Option { return func(r *Registry) { r.prepare = fn } }

// WithManualReady leaves functions Pending (and updates InProgress) until MarkReady is called.
func WithManualReady() Option { return func(r *Registry) { r.manual = true } }

// Registry is the function registry. It is safe for concurrent use.
type Registry struct {
	cfg     Config
	kv      jetstream.KeyValue
	code    CodeWriter
	logger  *slog.Logger
	now     func() time.Time
	prepare PrepareFunc
	manual  bool
	layers  *Layers

	mu    sync.RWMutex
	cache map[string]cacheEntry
	// reserved is the sum of every cached function's reserved concurrency, changed under mu.
	reserved atomic.Int64
	onDelete []func(name string)
	// onDeleteQualifier is told of each published version or alias deleted on its own.
	onDeleteQualifier []func(name, qualifier string)
	// provisioned, once opened, holds the provisioned concurrency that reservations must cover.
	provisioned atomic.Pointer[Provisioned]
	watch       *state.KeyWatch

	// vkv and akv hold published versions and aliases; versions and aliases are their
	// in-memory copies by function name, then version number or alias name, kept like cache.
	vkv, akv       jetstream.KeyValue
	versions       map[string]map[string]cacheEntry
	aliases        map[string]map[string]aliasEntry
	vwatch, awatch *state.KeyWatch

	bg     context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// cacheEntry is a function at a KV revision; f is nil for a deleted function (a tombstone that
// keeps an older update arriving late from resurrecting it).
type cacheEntry struct {
	f   *Function
	rev uint64
}

// Open creates (or opens) the functions bucket on st, loads every record into memory and keeps
// them current by watching the bucket until Close.
func Open(ctx context.Context, st *state.State, cfg Config, code CodeWriter, opts ...Option) (*Registry, error) {
	if cfg.Region == "" {
		cfg.Region = limits.DefaultRegion
	}
	if cfg.AccountID == "" {
		cfg.AccountID = limits.DefaultAccountID
	}
	if cfg.Bucket == "" {
		cfg.Bucket = DefaultBucket
	}
	if cfg.VersionBucket == "" {
		cfg.VersionBucket = DefaultVersionBucket
	}
	if cfg.AliasBucket == "" {
		cfg.AliasBucket = DefaultAliasBucket
	}
	if cfg.Runtimes == nil {
		cfg.Runtimes = runtimes.ProvidedOnly()
	}
	if cfg.ConcurrencyLimit == 0 {
		cfg.ConcurrencyLimit = limits.ConcurrentExecutions
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if code == nil {
		return nil, errors.New("control: a code writer is required")
	}
	r := &Registry{cfg: cfg, code: code, cache: make(map[string]cacheEntry),
		versions: make(map[string]map[string]cacheEntry), aliases: make(map[string]map[string]aliasEntry)}
	for _, o := range opts {
		o(r)
	}
	if r.logger == nil {
		r.logger = slog.New(slog.DiscardHandler)
	}
	if r.now == nil {
		r.now = time.Now
	}
	replicas := st.Replicas()
	if replicas < 1 {
		replicas = 1
	}
	kv, err := st.JetStream().CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      cfg.Bucket,
		Description: "Ember function records: $LATEST configuration, tags and code manifest",
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("control: bucket %s: %w", cfg.Bucket, err)
	}
	r.kv = kv
	for _, b := range []struct {
		kv          *jetstream.KeyValue
		name, about string
	}{
		{&r.vkv, cfg.VersionBucket, "Ember published function versions, by NAME.VERSION"},
		{&r.akv, cfg.AliasBucket, "Ember function aliases, by NAME.ALIAS"},
	} {
		*b.kv, err = st.JetStream().CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket: b.name, Description: b.about, History: 1, Storage: jetstream.FileStorage, Replicas: replicas,
		})
		if err != nil {
			return nil, fmt.Errorf("control: bucket %s: %w", b.name, err)
		}
	}
	if r.layers, err = openLayers(ctx, st, cfg, code, r.logger, r.now); err != nil {
		return nil, err
	}
	r.bg, r.cancel = context.WithCancel(context.Background())
	// Versions and aliases are loaded before functions, so that a function is never seen
	// without the versions and aliases it had.
	if r.vwatch, err = state.WatchKeys(ctx, r.vkv, r.applyVersionEntry); err == nil {
		if r.awatch, err = state.WatchKeys(ctx, r.akv, r.applyAliasEntry); err == nil {
			r.watch, err = state.WatchKeys(ctx, kv, r.applyEntry)
		}
	}
	if err != nil {
		r.stopWatches()
		r.cancel()
		r.layers.close()
		return nil, fmt.Errorf("control: %w", err)
	}
	r.resumeTransitions(ctx)
	return r, nil
}

// Close stops watching the bucket and waits for background work to end.
func (r *Registry) Close() error {
	r.stopWatches()
	r.cancel()
	r.wg.Wait()
	r.layers.close()
	return nil
}

func (r *Registry) stopWatches() {
	for _, w := range []*state.KeyWatch{r.watch, r.awatch, r.vwatch} {
		if w != nil {
			w.Stop()
		}
	}
}

// Layers is the layer registry the functions' Layers are checked against.
func (r *Registry) Layers() *Layers { return r.layers }

// Config is the registry's configuration, with defaults applied.
func (r *Registry) Config() Config { return r.cfg }

// newUUID is a random (version 4) UUID, as Lambda's RevisionId.
func newUUID() string { return uuid.NewString() }
