package sandboxtest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ember-serverless/ember/internal/sandbox"
	"github.com/ember-serverless/ember/internal/testenv"
)

// Run is the conformance suite: every backend must pass it. newBackend returns a backend
// for one test (it may return the same one each time); caps says which isolation checks
// apply.
func Run(t *testing.T, newBackend func(t *testing.T) sandbox.Backend, caps Capabilities) {
	code := BuildRuntime(t)
	h := func(t *testing.T) *Harness {
		return &Harness{Backend: newBackend(t), Caps: caps, CodeDir: code}
	}
	isolated := func(t *testing.T) {
		if !caps.Isolated {
			t.Skip("the backend does not isolate")
		}
	}

	t.Run("a started runtime answers invokes at its Runtime API address", func(t *testing.T) {
		r := h(t).Start(t, Options{})
		if got := r.Invoke(t, Event{Op: "echo", Value: "hello"}); got.Value != "hello" {
			t.Fatalf("echo = %+v", got)
		}
		addr := r.Invoke(t, Event{Op: "env", Value: "AWS_LAMBDA_RUNTIME_API"}).Value
		if addr == "" {
			t.Fatal("AWS_LAMBDA_RUNTIME_API is not set")
		}
		if caps.Isolated && addr != "127.0.0.1:9001" {
			t.Errorf("AWS_LAMBDA_RUNTIME_API = %q, want 127.0.0.1:9001", addr)
		}
		if got := r.Invoke(t, Event{Op: "env", Value: markerEnv}).Value; got != r.ID {
			t.Errorf("Spec.Env did not reach the runtime: %q", got)
		}
	})

	t.Run("the runtime's output reaches Spec.Output", func(t *testing.T) {
		r := h(t).Start(t, Options{})
		r.Invoke(t, Event{Op: "echo", Value: "a-log-line"})
		testenv.CheckFor(t, testenv.Scaled(10*time.Second), 10*time.Millisecond, func() error {
			if out := r.Output(); !strings.Contains(out, "testruntime: echo a-log-line") {
				return fmt.Errorf("the echoed line is not in the output so far: %q", out)
			}
			return nil
		})
	})

	t.Run("an idle sandbox is frozen, thawed and reused", func(t *testing.T) {
		r := h(t).Start(t, Options{})
		r.Invoke(t, Event{Op: "echo", Value: "1"})
		for i := range 3 {
			if err := r.Sandbox.Freeze(); err != nil {
				t.Fatalf("Freeze: %v", err)
			}
			if err := r.Sandbox.Thaw(); err != nil {
				t.Fatalf("Thaw: %v", err)
			}
			if got := r.Invoke(t, Event{Op: "echo", Value: "again"}); got.Value != "again" {
				t.Fatalf("invoke %d after thaw = %+v", i, got)
			}
		}
	})

	t.Run("a runtime that overruns its timeout is destroyed", func(t *testing.T) {
		r := h(t).Start(t, Options{})
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		if _, err := r.TryInvoke(ctx, Event{Op: "sleep", Millis: 600000}); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("invoke = %v, want the deadline", err)
		}
		if err := r.Sandbox.Destroy(context.Background()); err != nil {
			t.Fatalf("Destroy: %v", err)
		}
		r.WaitDone(t, testenv.Scaled(10*time.Second))
	})

	t.Run("a crashing runtime reports its exit code", func(t *testing.T) {
		r := h(t).Start(t, Options{})
		ctx, cancel := context.WithTimeout(context.Background(), testenv.Scaled(30*time.Second))
		defer cancel()
		if _, err := r.TryInvoke(ctx, Event{Op: "crash", Code: 3}); !errors.Is(err, ErrRuntimeExited) {
			t.Fatalf("invoke = %v, want the runtime to exit", err)
		}
		st := r.WaitDone(t, testenv.Scaled(10*time.Second))
		if st.Code != 3 || st.OOM || st.Signal != "" {
			t.Fatalf("Exit = %+v, want code 3", st)
		}
	})

	t.Run("a runtime over its memory limit is killed as OOM and the next sandbox works", func(t *testing.T) {
		isolated(t)
		hh := h(t)
		r := hh.Start(t, Options{MemoryMB: 128})
		ctx, cancel := context.WithTimeout(context.Background(), testenv.Scaled(60*time.Second))
		defer cancel()
		if res, err := r.TryInvoke(ctx, Event{Op: "alloc", MB: 400}); !errors.Is(err, ErrRuntimeExited) {
			t.Fatalf("invoke = %+v, %v; want the runtime killed", res, err)
		}
		st := r.WaitDone(t, testenv.Scaled(10*time.Second))
		if !st.OOM {
			t.Fatalf("Exit = %+v, want OOM", st)
		}
		next := hh.Start(t, Options{MemoryMB: 128})
		if got := next.Invoke(t, Event{Op: "echo", Value: "alive"}); got.Value != "alive" {
			t.Fatalf("next sandbox answered %+v", got)
		}
	})

	t.Run("memory within the limit is reported as peak memory", func(t *testing.T) {
		isolated(t)
		r := h(t).Start(t, Options{MemoryMB: 256})
		r.Invoke(t, Event{Op: "alloc", MB: 64})
		if got := r.Sandbox.Stats().MaxMemoryBytes; got < 64<<20 || got > 256<<20 {
			t.Fatalf("MaxMemoryBytes = %d, want between 64 and 256 MiB", got)
		}
	})

	t.Run("forking without bound stops at the pids limit", func(t *testing.T) {
		isolated(t)
		hh := h(t)
		r := hh.Start(t, Options{MemoryMB: 512})
		if caps.ForkBombOOM {
			ctx, cancel := context.WithTimeout(context.Background(), testenv.Scaled(60*time.Second))
			defer cancel()
			if res, err := r.TryInvoke(ctx, Event{Op: "fork", Code: 4096}); !errors.Is(err, ErrRuntimeExited) {
				t.Fatalf("fork = %+v, %v; want the sandbox killed at its memory limit", res, err)
			}
			if st := r.WaitDone(t, testenv.Scaled(10*time.Second)); !st.OOM {
				t.Fatalf("Exit = %+v, want OOM", st)
			}
			if got := hh.Start(t, Options{}).Invoke(t, Event{Op: "echo", Value: "next"}); got.Value != "next" {
				t.Fatalf("the next sandbox answered %+v", got)
			}
			return
		}
		res := r.Invoke(t, Event{Op: "fork", Code: 4096})
		if res.Count >= 1024 || res.Err == "" {
			t.Fatalf("fork made %d processes (%s), want fewer than 1024 and an error", res.Count, res.Err)
		}
		if got := r.Invoke(t, Event{Op: "echo", Value: "still here"}); got.Value != "still here" {
			t.Fatalf("after the fork bomb: %+v", got)
		}
	})

	t.Run("sandboxes run side by side", func(t *testing.T) {
		hh := h(t)
		a, b := hh.Start(t, Options{}), hh.Start(t, Options{})
		if a.Invoke(t, Event{Op: "echo", Value: "a"}).Value != "a" || b.Invoke(t, Event{Op: "echo", Value: "b"}).Value != "b" {
			t.Fatal("wrong answers")
		}
	})

	t.Run("a sandbox destroyed before Start leaves nothing behind", func(t *testing.T) {
		r := h(t).Create(t, Options{})
		if err := r.Sandbox.Destroy(context.Background()); err != nil {
			t.Fatalf("Destroy: %v", err)
		}
		if err := r.Sandbox.Start(context.Background()); !errors.Is(err, sandbox.ErrDestroyed) {
			t.Fatalf("Start after Destroy = %v, want ErrDestroyed", err)
		}
	})

	t.Run("Destroy is idempotent and later operations fail with ErrDestroyed", func(t *testing.T) {
		r := h(t).Start(t, Options{})
		r.Invoke(t, Event{Op: "echo", Value: "x"})
		for range 2 {
			if err := r.Sandbox.Destroy(context.Background()); err != nil {
				t.Fatalf("Destroy: %v", err)
			}
		}
		r.WaitDone(t, testenv.Scaled(10*time.Second))
		if err := r.Sandbox.Start(context.Background()); !errors.Is(err, sandbox.ErrDestroyed) {
			t.Errorf("Start after Destroy = %v, want ErrDestroyed", err)
		}
		// Backends that cannot freeze make Freeze and Thaw no-ops, even then.
		for name, f := range map[string]func() error{"Freeze": r.Sandbox.Freeze, "Thaw": r.Sandbox.Thaw} {
			if err := f(); err != nil && !errors.Is(err, sandbox.ErrDestroyed) {
				t.Errorf("%s after Destroy = %v, want ErrDestroyed or nothing", name, err)
			}
		}
	})

	t.Run("a frozen sandbox is destroyed", func(t *testing.T) {
		r := h(t).Start(t, Options{})
		r.Invoke(t, Event{Op: "fork", Code: 20})
		if err := r.Sandbox.Freeze(); err != nil {
			t.Fatalf("Freeze: %v", err)
		}
		if err := r.Sandbox.Destroy(context.Background()); err != nil {
			t.Fatalf("Destroy: %v", err)
		}
		r.WaitDone(t, testenv.Scaled(10*time.Second))
	})
}
