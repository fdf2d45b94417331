package state

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/ember-serverless/ember/internal/testenv"
	"github.com/nats-io/nats.go/jetstream"
)

func open(t *testing.T, cfg Config, logger *slog.Logger, opts ...Option) *State {
	t.Helper()
	st, err := Open(context.Background(), cfg, logger, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestTheEmbeddedServersOwnLogGoesToTheServerLogger(t *testing.T) {
	var buf testenv.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, nil))
	open(t, Config{DataDir: t.TempDir()}, logger.With("role", "state"), WithServerLogger(logger.With("role", "nats")))
	if out := buf.String(); !strings.Contains(out, "msg=\"Starting JetStream\" role=nats") {
		t.Errorf("the embedded server's start-up is not in the log as role=nats:\n%s", out)
	}
}

func TestAnEmbeddedJetStreamThatShutDownIsRestartedAndWritesWorkAgain(t *testing.T) {
	ctx := context.Background()
	var buf testenv.Buffer
	st := open(t, Config{DataDir: t.TempDir(), HealthInterval: 20 * time.Millisecond, HealthGrace: time.Hour},
		slog.New(slog.NewTextHandler(&buf, nil)))
	kv, err := st.JetStream().CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.PutString(ctx, "before", "v"); err != nil {
		t.Fatal(err)
	}
	// What the server does on a storage error it cannot write past, such as running out of
	// file descriptors: every write then times out waiting for its ack until a restart.
	if err := st.srv.ShutdownJetStream(); err != nil {
		t.Fatal(err)
	}
	testenv.CheckFor(t, time.Minute, 10*time.Millisecond, func() error { // writes work again
		wctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		_, err := kv.PutString(wctx, "after", "v")
		return err
	})
	if e, err := kv.Get(ctx, "before"); err != nil || string(e.Value()) != "v" {
		t.Errorf("a key written before the shutdown reads %v, %v", e, err)
	}
	if out := buf.String(); !strings.Contains(out, "restarting it") || !strings.Contains(out, "state store recovered") {
		t.Errorf("the log does not say the store was restarted and recovered:\n%s", out)
	}
	if err := st.Err(); err != nil {
		t.Errorf("a recovered store was given up on: %v", err)
	}
}

func TestAStoreThatKeepsFailingItsChecksIsGivenUpWithTheReason(t *testing.T) {
	probeErr := errors.New("nats: timeout waiting for ack")
	st := open(t, Config{DataDir: t.TempDir(), HealthInterval: 10 * time.Millisecond, HealthGrace: 100 * time.Millisecond}, nil,
		WithHealthProbe(func(context.Context) error { return probeErr }))
	select {
	case <-st.Failed():
	case <-time.After(time.Minute):
		t.Fatal("a store failing every check was not given up on")
	}
	err := st.Err()
	if !errors.Is(err, ErrUnhealthy) || !errors.Is(err, probeErr) {
		t.Errorf("Err() = %v, want it to wrap ErrUnhealthy and the check's error", err)
	}
}

func TestAHealthyStoreIsCheckedPeriodicallyAndNotGivenUp(t *testing.T) {
	ctx := context.Background()
	st := open(t, Config{DataDir: t.TempDir(), HealthInterval: 10 * time.Millisecond, HealthGrace: 10 * time.Millisecond}, nil)
	if err := st.Check(ctx); err != nil {
		t.Fatalf("a check of a healthy store failed: %v", err)
	}
	kv, err := st.JetStream().KeyValue(ctx, healthBucket)
	if err != nil {
		t.Fatal(err)
	}
	s, err := kv.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	first := s.(*jetstream.KeyValueBucketStatus).StreamInfo().State.LastSeq
	testenv.CheckFor(t, time.Minute, 10*time.Millisecond, func() error {
		s, err := kv.Status(ctx)
		if err != nil {
			return err
		}
		if last := s.(*jetstream.KeyValueBucketStatus).StreamInfo().State.LastSeq; last < first+3 {
			return fmt.Errorf("the periodic checks have written up to sequence %d, want %d", last, first+3)
		}
		return nil
	})
	if err := st.Err(); err != nil {
		t.Errorf("a healthy store was given up on: %v", err)
	}
}
