package state

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// healthBucket is the KV bucket the health check writes to and reads back from.
const healthBucket = "ember_health"

// probeTimeout bounds one health check.
const probeTimeout = 5 * time.Second

// ErrUnhealthy is wrapped by the error Err reports once the store is given up on.
var ErrUnhealthy = errors.New("state store unhealthy")

// Failed is closed when the store has failed its health checks for longer than the configured
// grace and could not be recovered, or its connection closed for good. A server should then
// stop with Err, so that a supervisor restarts it, rather than answer every write with an error.
func (s *State) Failed() <-chan struct{} { return s.failed }

// Err is why Failed was closed (nil while it is not).
func (s *State) Err() error {
	select {
	case <-s.failed:
		return s.failErr
	default:
		return nil
	}
}

// Check runs one health check now: a write to the store and a read back.
func (s *State) Check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	return s.probe(ctx)
}

func (s *State) fail(err error) {
	s.failOnce.Do(func() {
		s.failErr = fmt.Errorf("%w: %w", ErrUnhealthy, err)
		s.logger.Error("state store failed; giving up on it", "err", err)
		close(s.failed)
	})
}

// kvProbe creates the health bucket and returns a check that writes this State's key in it and
// reads it back: the path every control-plane write takes (a stream publish acknowledged by the
// store) and a read.
func (s *State) kvProbe(ctx context.Context) (func(context.Context) error, error) {
	kv, err := s.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      healthBucket,
		Description: "Ember's store health checks: one key per process, rewritten every check",
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    s.cfg.Replicas,
		MaxBytes:    1 << 20,
		TTL:         time.Hour,
	})
	if err != nil {
		return nil, fmt.Errorf("state: bucket %s: %w", healthBucket, err)
	}
	key := uuid.NewString()
	return func(ctx context.Context) error {
		want := time.Now().UTC().Format(time.RFC3339Nano)
		if _, err := kv.PutString(ctx, key, want); err != nil {
			return fmt.Errorf("write: %w", err)
		}
		e, err := kv.Get(ctx, key)
		if err != nil {
			return fmt.Errorf("read: %w", err)
		}
		if string(e.Value()) != want {
			return fmt.Errorf("read back %q, wrote %q", e.Value(), want)
		}
		return nil
	}, nil
}

// watchHealth checks the store every interval until ctx ends. When a check fails it tries to
// recover; when checks keep failing past the grace it gives up (fail).
func (s *State) watchHealth(ctx context.Context) {
	defer close(s.done)
	t := time.NewTicker(s.cfg.HealthInterval)
	defer t.Stop()
	var failingSince time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.failed:
			return
		case <-t.C:
		}
		err := s.Check(ctx)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			if !failingSince.IsZero() {
				s.logger.Info("state store healthy again", "unhealthy_for", time.Since(failingSince).Round(time.Millisecond))
				failingSince = time.Time{}
			}
			continue
		}
		if failingSince.IsZero() {
			failingSince = time.Now()
		}
		failing := time.Since(failingSince)
		s.logger.Error("state store health check failed", "err", err, "unhealthy_for", failing.Round(time.Millisecond),
			"gives_up_after", s.cfg.HealthGrace)
		if s.recover() {
			if err = s.Check(ctx); err == nil {
				s.logger.Info("state store recovered", "unhealthy_for", time.Since(failingSince).Round(time.Millisecond))
				failingSince = time.Time{}
				continue
			}
		}
		if failing >= s.cfg.HealthGrace {
			s.fail(fmt.Errorf("failing its health checks for %s (last: %w)", failing.Round(time.Second), err))
			return
		}
	}
}

// recover tries to repair what a failed check may have met, and reports whether it changed
// anything. The embedded server shuts JetStream down on a storage error it cannot write past
// (such as running out of file descriptors) and never restarts it by itself: recover restarts
// it on the same files. A lost connection is re-established by the NATS client on its own.
func (s *State) recover() bool {
	if s.nc.Status() == nats.CLOSED {
		s.fail(errors.New("the connection to the store is closed"))
		return false
	}
	if s.srv == nil || s.srv.JetStreamEnabled() {
		return false
	}
	s.logger.Warn("the embedded server's JetStream is shut down; restarting it", "store_dir", s.storeDir())
	if err := s.srv.EnableJetStream(&server.JetStreamConfig{StoreDir: s.storeDir(), MaxMemory: embeddedMaxMemory}); err != nil {
		s.logger.Error("restarting the embedded server's JetStream failed", "err", err)
		return false
	}
	return true
}
