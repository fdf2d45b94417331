package async

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ember-serverless/ember/internal/lambdaerr"
)

// ConfigBucket is the KV bucket event-invoke configurations are stored in, one key per
// function and qualifier.
const ConfigBucket = "event-invoke-configs"

// latest is the qualifier an unqualified configuration is stored under.
const latest = "$LATEST"

// ErrNoConfig is wrapped by the error for a function without an event-invoke configuration.
var ErrNoConfig = errors.New("no event invoke config")

// ConfigStore keeps event-invoke configurations in a JetStream KV bucket and a copy of them in
// memory, kept current by watching the bucket, so that pollers read them without a round trip.
type ConfigStore struct {
	arns   ARNs
	kv     jetstream.KeyValue
	now    func() time.Time
	logger *slog.Logger

	mu    sync.RWMutex
	cache map[string]cached
	stop  context.CancelFunc
	done  chan struct{}
}

type cached struct {
	rev uint64
	cfg *EventInvokeConfig // nil once deleted
}

// OpenConfigStore creates (or opens) the bucket and loads it.
func OpenConfigStore(ctx context.Context, js jetstream.JetStream, replicas int, arns ARNs, logger *slog.Logger) (*ConfigStore, error) {
	if replicas < 1 {
		replicas = 1
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: ConfigBucket, History: 1,
		Storage: jetstream.FileStorage, Replicas: replicas})
	if err != nil {
		return nil, fmt.Errorf("async: config bucket: %w", err)
	}
	s := &ConfigStore{arns: arns, kv: kv, now: time.Now, logger: logger, cache: map[string]cached{}, done: make(chan struct{})}
	wctx, stop := context.WithCancel(context.Background())
	s.stop = stop
	w, err := kv.WatchAll(wctx)
	if err != nil {
		stop()
		return nil, fmt.Errorf("async: watching config bucket: %w", err)
	}
	// The watcher sends every current value, then nil, then updates: wait for the nil so the
	// cache is complete when this returns.
	loaded := make(chan struct{})
	go s.watch(w, loaded)
	select {
	case <-loaded:
	case <-ctx.Done():
		s.Close()
		return nil, ctx.Err()
	}
	return s, nil
}

func (s *ConfigStore) watch(w jetstream.KeyWatcher, loaded chan struct{}) {
	defer close(s.done)
	defer w.Stop()
	for e := range w.Updates() {
		if e == nil {
			if loaded != nil {
				close(loaded)
				loaded = nil
			}
			continue
		}
		var cfg *EventInvokeConfig
		if e.Operation() == jetstream.KeyValuePut {
			c, err := decodeStored(e.Value())
			if err != nil {
				s.logger.Error("skipping a stored event invoke config", "key", e.Key(), "err", err)
				continue
			}
			cfg = c
		}
		s.apply(e.Key(), e.Revision(), cfg)
	}
}

func (s *ConfigStore) apply(key string, rev uint64, cfg *EventInvokeConfig) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.cache[key]; ok && c.rev >= rev {
		return
	}
	s.cache[key] = cached{rev: rev, cfg: cfg}
}

// Close stops watching the bucket.
func (s *ConfigStore) Close() {
	s.stop()
	<-s.done
}

// key is the bucket key of a function's qualifier. '$' may not appear in a key, and '=' may
// appear in neither a function name nor a qualifier, so "$LATEST" is stored as "=LATEST".
func key(function, qualifier string) string {
	if qualifier == "" {
		qualifier = latest
	}
	return function + "." + strings.ReplaceAll(qualifier, "$", "=")
}

// Lookup is the configuration that applies to an event for the function and qualifier, or nil
// when there is none (Lambda's defaults apply). It answers from memory.
func (s *ConfigStore) Lookup(function, qualifier string) *EventInvokeConfig {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.cache[key(function, qualifier)].cfg
}

func (s *ConfigStore) notFound(function, qualifier string) error {
	if qualifier == "" {
		qualifier = latest
	}
	return fmt.Errorf("%w: %w", lambdaerr.NotFound("EventInvokeConfig", s.arns.FunctionARN(function, qualifier)), ErrNoConfig)
}

// Get answers GetFunctionEventInvokeConfig for an existing function.
func (s *ConfigStore) Get(function, qualifier string) (*EventInvokeConfig, error) {
	c := s.Lookup(function, qualifier)
	if c == nil {
		return nil, s.notFound(function, qualifier)
	}
	return c.answer(), nil
}

// Put answers PutFunctionEventInvokeConfig: it replaces the whole configuration.
func (s *ConfigStore) Put(ctx context.Context, function, qualifier string, in *ConfigInput) (*EventInvokeConfig, error) {
	if err := s.arns.Validate(in, function); err != nil {
		return nil, err
	}
	return s.write(ctx, function, qualifier, func(*EventInvokeConfig) (*EventInvokeConfig, error) {
		return &EventInvokeConfig{MaximumRetryAttempts: in.MaximumRetryAttempts,
			MaximumEventAgeInSeconds: in.MaximumEventAgeInSeconds, DestinationConfig: in.DestinationConfig}, nil
	})
}

// Update answers UpdateFunctionEventInvokeConfig: it changes the members given, of an existing
// configuration.
func (s *ConfigStore) Update(ctx context.Context, function, qualifier string, in *ConfigInput) (*EventInvokeConfig, error) {
	if err := s.arns.Validate(in, function); err != nil {
		return nil, err
	}
	return s.write(ctx, function, qualifier, func(old *EventInvokeConfig) (*EventInvokeConfig, error) {
		if old == nil {
			return nil, s.notFound(function, qualifier)
		}
		c := *old
		if in.MaximumRetryAttempts != nil {
			c.MaximumRetryAttempts = in.MaximumRetryAttempts
		}
		if in.MaximumEventAgeInSeconds != nil {
			c.MaximumEventAgeInSeconds = in.MaximumEventAgeInSeconds
		}
		if in.DestinationConfig != nil {
			d := DestinationConfig{}
			if c.DestinationConfig != nil {
				d = *c.DestinationConfig
			}
			if in.DestinationConfig.OnSuccess != nil {
				d.OnSuccess = in.DestinationConfig.OnSuccess
			}
			if in.DestinationConfig.OnFailure != nil {
				d.OnFailure = in.DestinationConfig.OnFailure
			}
			c.DestinationConfig = &d
		}
		return &c, nil
	})
}

// write applies change to the stored configuration under compare-and-set, retrying when
// another writer got there first.
func (s *ConfigStore) write(ctx context.Context, function, qualifier string, change func(old *EventInvokeConfig) (*EventInvokeConfig, error)) (*EventInvokeConfig, error) {
	k := key(function, qualifier)
	if qualifier == "" {
		qualifier = latest
	}
	for range 10 {
		var old *EventInvokeConfig
		var rev uint64
		e, err := s.kv.Get(ctx, k)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
		case err != nil:
			return nil, fmt.Errorf("async: reading config %s: %w", k, err)
		default:
			rev = e.Revision()
			if old, err = decodeStored(e.Value()); err != nil {
				return nil, err
			}
		}
		c, err := change(old)
		if err != nil {
			return nil, err
		}
		c.FunctionArn = s.arns.FunctionARN(function, qualifier)
		c.LastModified = EpochTime{s.now().Truncate(time.Millisecond)}
		b, err := json.Marshal(c)
		if err != nil {
			return nil, err
		}
		var newRev uint64
		if rev == 0 {
			newRev, err = s.kv.Create(ctx, k, b)
		} else {
			newRev, err = s.kv.Update(ctx, k, b, rev)
		}
		if errors.Is(err, jetstream.ErrKeyExists) || isWrongSequence(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("async: storing config %s: %w", k, err)
		}
		s.apply(k, newRev, c)
		return c.answer(), nil
	}
	return nil, lambdaerr.New(lambdaerr.ResourceConflict, "The event invoke config of %s is being changed by another request; try again.", s.arns.FunctionARN(function, qualifier))
}

func isWrongSequence(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence
}

// Delete answers DeleteFunctionEventInvokeConfig.
func (s *ConfigStore) Delete(ctx context.Context, function, qualifier string) error {
	if s.Lookup(function, qualifier) == nil {
		return s.notFound(function, qualifier)
	}
	k := key(function, qualifier)
	if err := s.kv.Delete(ctx, k); err != nil {
		return fmt.Errorf("async: deleting config %s: %w", k, err)
	}
	s.mu.Lock()
	delete(s.cache, k)
	s.mu.Unlock()
	return nil
}

// DeleteFunction removes every configuration of a deleted function.
func (s *ConfigStore) DeleteFunction(ctx context.Context, function string) error {
	var errs []error
	for _, c := range s.list(function) {
		_, q := splitARNQualifier(c.FunctionArn)
		if err := s.Delete(ctx, function, q); err != nil && !errors.Is(err, ErrNoConfig) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func splitARNQualifier(arn string) (string, string) {
	i := strings.LastIndexByte(arn, ':')
	return arn[:i], arn[i+1:]
}

func (s *ConfigStore) list(function string) []*EventInvokeConfig {
	prefix := function + "."
	s.mu.RLock()
	var keys []string
	for k, c := range s.cache {
		if strings.HasPrefix(k, prefix) && c.cfg != nil {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	out := make([]*EventInvokeConfig, 0, len(keys))
	for _, k := range keys {
		out = append(out, s.cache[k].cfg.answer())
	}
	s.mu.RUnlock()
	return out
}

// MaxListItems is the most configurations ListFunctionEventInvokeConfigs returns at once.
const MaxListItems = 50

// List answers ListFunctionEventInvokeConfigs: the function's configurations in key order,
// from after marker (the last FunctionArn of the previous page), at most maxItems (0: 50).
func (s *ConfigStore) List(function, marker string, maxItems int) ([]*EventInvokeConfig, string, error) {
	if maxItems == 0 {
		maxItems = MaxListItems
	}
	all := s.list(function)
	start := 0
	if marker != "" {
		start = len(all)
		for i, c := range all {
			if c.FunctionArn == marker {
				start = i + 1
				break
			}
		}
	}
	all = all[start:]
	next := ""
	if len(all) > maxItems {
		all = all[:maxItems]
		next = all[maxItems-1].FunctionArn
	}
	return all, next, nil
}
