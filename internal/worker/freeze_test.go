package worker_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ember-serverless/ember/internal/invoke"
	"github.com/ember-serverless/ember/internal/sandbox/cgroups"
	"github.com/ember-serverless/ember/internal/sandbox/jail"
	"github.com/ember-serverless/ember/internal/testenv"
	"github.com/ember-serverless/ember/internal/worker"
)

// jailBackend is a jail with a private state directory and cgroup prefix, or skips when the
// host cannot run jails.
func jailBackend(t *testing.T) *jail.Backend {
	t.Helper()
	state, err := os.MkdirTemp("", "ember-worker-jail-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(state, 0o755)
	t.Cleanup(func() { os.RemoveAll(state) })
	b, err := jail.New(jail.Config{StateDir: state, ScratchDir: t.TempDir(),
		Cgroups: cgroups.Config{Prefix: fmt.Sprintf("ember-wtest-%d-%s", os.Getpid(), filepath.Base(state))}}, nil)
	if errors.Is(err, jail.ErrUnsupported) {
		testenv.Need(t, "this host cannot run jails, which freezing needs: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func TestAnIdleSandboxIsFrozenSoItsBackgroundWorkStopsUntilTheNextInvoke(t *testing.T) {
	const freezeAfter = 20 * time.Millisecond
	w, err := worker.New(worker.Config{Backend: jailBackend(t), Logs: &memLog{}, Region: "us-east-1", FreezeAfter: freezeAfter})
	if err != nil {
		t.Fatal(err)
	}
	sb, err := w.NewSandbox(context.Background(), invoke.SandboxSpec{
		FunctionName: "fn", FunctionARN: "arn:aws:lambda:us-east-1:000000000000:function:fn",
		Version: "$LATEST", Runtime: "provided.al2023", Handler: "bootstrap",
		Command: []string{"/var/task/bootstrap"}, MemoryMB: 128, Timeout: 30 * time.Second, CodeDir: codeDir,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Destroy(context.Background()) })
	// tick starts (once) a goroutine counting every millisecond, sleeps ms and returns the
	// count before and after.
	tick := func(ms int) (before, after int64) {
		t.Helper()
		res := invokeIn(t, sb, fmt.Sprintf(`{"op":"tick","ms":%d}`, ms), false)
		var got struct{ Before, After int64 }
		if err := json.Unmarshal(res.Payload, &got); err != nil || res.FunctionError != "" {
			t.Fatalf("tick = %s (%s), %v", res.Payload, res.FunctionError, err)
		}
		return got.Before, got.After
	}

	_, last := tick(0)
	deadline := time.Now().Add(30 * time.Second)
	for !sb.Frozen() {
		if time.Now().After(deadline) {
			t.Fatalf("the sandbox was not frozen 30 s after its invocation (FreezeAfter %s)", freezeAfter)
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Time passes while it is frozen: a running goroutine would count about 300 more.
	frozenFor := 300 * time.Millisecond
	time.Sleep(frozenFor)
	if !sb.Frozen() {
		t.Fatal("the idle sandbox was thawed without an invocation")
	}
	before, after := tick(100)
	if sb.Frozen() {
		t.Error("the sandbox is still frozen after an invocation")
	}
	// What it may count while idle: until it is frozen, FreezeAfter of 1 ms ticks, and the
	// invocations' own time around it.
	if idle := before - last; idle > 60 {
		t.Errorf("the background goroutine counted %d times while its sandbox was idle for over %s", idle, frozenFor)
	}
	if after <= before {
		t.Errorf("the background goroutine made no progress during a 100 ms invocation (%d, then %d)", before, after)
	}
}
