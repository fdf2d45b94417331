package worker_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ember-serverless/ember/internal/invoke"
	"github.com/ember-serverless/ember/internal/sandbox"
	"github.com/ember-serverless/ember/internal/sandbox/process"
	"github.com/ember-serverless/ember/internal/worker"
)

// snapBackend wraps the process backend in sandboxes that are Snapshotters (whose snapshots
// fail, so that the runtime goes on) and Restorers (reporting restored when restored is set).
type snapBackend struct {
	sandbox.Backend
	restored time.Duration
	snaps    atomic.Int32
	keys     chan string
}

type snapSandbox struct {
	sandbox.Sandbox
	b   *snapBackend
	key string
}

func (b *snapBackend) Create(ctx context.Context, spec sandbox.Spec) (sandbox.Sandbox, error) {
	sb, err := b.Backend.Create(ctx, spec)
	if err != nil {
		return nil, err
	}
	return &snapSandbox{Sandbox: sb, b: b, key: spec.SnapshotKey}, nil
}

func (s *snapSandbox) Snapshot(context.Context) error {
	s.b.snaps.Add(1)
	s.b.keys <- s.key
	return errors.New("test: no snapshot taken")
}

func (s *snapSandbox) RestoreDuration() time.Duration { return s.b.restored }

func newSnapSandbox(t *testing.T, b *snapBackend, key string) (*worker.Sandbox, *memLog) {
	t.Helper()
	ml := &memLog{}
	w, err := worker.New(worker.Config{Backend: b, Logs: ml, Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	sb, err := w.NewSandbox(context.Background(), invoke.SandboxSpec{
		FunctionName: "fn", FunctionARN: "arn:aws:lambda:us-east-1:000000000000:function:fn",
		Version: "$LATEST", Runtime: "provided.al2023", Handler: "bootstrap",
		Command: []string{"/var/task/bootstrap"}, MemoryMB: 128, Timeout: 3 * time.Second,
		CodeDir: codeDir, SnapshotKey: key,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Destroy(context.Background()) })
	return sb, ml
}

func TestASnapStartSandboxIsSnapshottedOnceAtItsFirstNext(t *testing.T) {
	b := &snapBackend{Backend: process.New(), keys: make(chan string, 4)}
	sb, _ := newSnapSandbox(t, b, "fn#rev-1")
	first := invokeIn(t, sb, `{"op":"echo","text":"a"}`, true)
	invokeIn(t, sb, `{"op":"echo","text":"b"}`, false)
	if n := b.snaps.Load(); n != 1 {
		t.Fatalf("Snapshot was called %d times, want once", n)
	}
	if key := <-b.keys; key != "fn#rev-1" {
		t.Errorf("the sandbox's SnapshotKey = %q, want the version's", key)
	}
	// The snapshot failed: the sandbox goes on, initialized, and says so.
	if first.InitDuration == 0 || !strings.Contains(string(first.Log), "Init Duration:") {
		t.Errorf("the cold invoke reports no init duration; log:\n%s", first.Log)
	}
}

func TestASandboxWithoutSnapStartIsNeverSnapshotted(t *testing.T) {
	b := &snapBackend{Backend: process.New(), keys: make(chan string, 4)}
	sb, _ := newSnapSandbox(t, b, "")
	invokeIn(t, sb, `{"op":"echo","text":"a"}`, false)
	if n := b.snaps.Load(); n != 0 {
		t.Fatalf("Snapshot was called %d times", n)
	}
}

func TestARestoredSandboxReportsItsRestoreDurationInsteadOfAnInitDuration(t *testing.T) {
	b := &snapBackend{Backend: process.New(), keys: make(chan string, 4), restored: 42 * time.Millisecond}
	sb, _ := newSnapSandbox(t, b, "fn#rev-1")
	res := invokeIn(t, sb, `{"op":"echo","text":"a"}`, true)
	log := string(res.Log)
	if !strings.Contains(log, "Restore Duration: 42") || strings.Contains(log, "Init Duration") {
		t.Errorf("REPORT of a restored sandbox:\n%s", log)
	}
	if res.InitDuration != 0 {
		t.Errorf("InitDuration = %v, want none for a restored sandbox", res.InitDuration)
	}
	if n := b.snaps.Load(); n != 0 {
		t.Errorf("a restored sandbox was snapshotted again (%d)", n)
	}
}
