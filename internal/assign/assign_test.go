package assign_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ember-serverless/ember/internal/gobuild"
	"github.com/ember-serverless/ember/internal/invoke"
	"github.com/ember-serverless/ember/internal/testenv"

	"github.com/ember-serverless/ember/internal/assign"
	"github.com/ember-serverless/ember/internal/placement"
	"github.com/ember-serverless/ember/internal/sandbox/process"
	"github.com/ember-serverless/ember/internal/worker"
)

var codeDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "assign-test-fn")
	if err != nil {
		panic(err)
	}
	if err := gobuild.Static(filepath.Join(dir, "bootstrap"), "internal/worker/testdata/fn"); err != nil {
		fmt.Fprintln(os.Stderr, "building the test function:", err)
		os.Exit(1)
	}
	codeDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func newManager(t *testing.T, idle time.Duration) (*assign.Manager, *worker.Worker) {
	t.Helper()
	w, err := worker.New(worker.Config{Backend: process.New(), Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	m, err := assign.New(assign.Config{Placement: placement.Local{Host: w}, IdleTimeout: idle})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(); w.Close(context.Background()) })
	return m, w
}

func cfg(name string) invoke.SandboxSpec {
	return invoke.SandboxSpec{FunctionName: name, FunctionARN: "arn:aws:lambda:us-east-1:000000000000:function:" + name,
		Version: "$LATEST", Runtime: "provided.al2023", Command: []string{"/var/task/bootstrap"},
		MemoryMB: 128, Timeout: 3 * time.Second, CodeDir: codeDir}
}

var n int

func call(t *testing.T, m *assign.Manager, key string, c invoke.SandboxSpec, op string) map[string]any {
	t.Helper()
	n++
	res, err := m.Invoke(context.Background(), key, c, &invoke.Invocation{RequestID: fmt.Sprint("r", n), Payload: []byte(`{"op":"` + op + `"}`)})
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	json.Unmarshal(res.Payload, &out)
	return out
}

// waitSandboxes waits until the worker has n sandboxes and the manager n idle ones at most.
func waitSandboxes(t *testing.T, m *assign.Manager, w *worker.Worker, n int) {
	t.Helper()
	testenv.CheckFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		if got, idle := w.Sandboxes(), m.Stats().Idle; got != n || idle > n {
			return fmt.Errorf("%d sandboxes (%d idle), want %d", got, idle, n)
		}
		return nil
	})
}

func TestSequentialInvokesReuseOneWarmSandbox(t *testing.T) {
	m, w := newManager(t, time.Minute)
	for i := 1; i <= 3; i++ {
		if got := call(t, m, "k1", cfg("f"), "echo")["calls"]; got != float64(i) {
			t.Fatalf("invoke %d ran as call %v of its process; want the same warm process", i, got)
		}
	}
	if w.Sandboxes() != 1 {
		t.Errorf("%d sandboxes, want 1", w.Sandboxes())
	}
}

func TestConcurrentInvokesGetOneSandboxEach(t *testing.T) {
	m, w := newManager(t, time.Minute)
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := fmt.Sprint(i)
			m.Invoke(context.Background(), "k", cfg("f"), &invoke.Invocation{RequestID: "c" + n, Payload: []byte(`{"op":"sleep","ms":300}`)})
		}()
	}
	wg.Wait()
	if got := m.Stats(); got.Idle != 4 || got.Busy != 0 {
		t.Errorf("after 4 overlapping invokes: %+v, want 4 idle", got)
	}
	if w.Sandboxes() != 4 {
		t.Errorf("%d sandboxes, want 4", w.Sandboxes())
	}
}

func TestANewConfigurationRetiresTheOldSandboxes(t *testing.T) {
	m, w := newManager(t, time.Minute)
	call(t, m, "v1", cfg("f"), "echo")
	if got := call(t, m, "v2", cfg("f"), "echo")["calls"]; got != float64(1) {
		t.Fatalf("an invoke after an update ran in an old sandbox (call %v)", got)
	}
	waitSandboxes(t, m, w, 1) // the old one destroyed
}

func TestAPublishedVersionKeepsItsSandboxesBesideLatestsUpdates(t *testing.T) {
	m, w := newManager(t, time.Minute)
	v1 := cfg("f")
	v1.FunctionARN += ":1"
	v1.Version = "1"
	call(t, m, "f:1#a", v1, "echo")
	call(t, m, "latest#a", cfg("f"), "echo")
	call(t, m, "latest#b", cfg("f"), "echo") // an update of $LATEST retires only $LATEST's
	waitSandboxes(t, m, w, 2)
	if got := call(t, m, "f:1#a", v1, "echo")["calls"]; got != float64(2) {
		t.Errorf("version 1's second invoke ran in a new sandbox (call %v)", got)
	}
	m.ForgetVersion(v1.FunctionARN) // version 1 deleted: its sandbox goes, $LATEST's stays
	waitSandboxes(t, m, w, 1)
	if got := call(t, m, "latest#b", cfg("f"), "echo")["calls"]; got != float64(2) {
		t.Errorf("$LATEST's sandbox went with version 1's (call %v)", got)
	}
}

func TestIdleSandboxesAreReclaimed(t *testing.T) {
	m, w := newManager(t, 50*time.Millisecond)
	call(t, m, "k", cfg("f"), "echo")
	waitSandboxes(t, m, w, 0) // the idle one reclaimed
}

func TestAnInvokeAfterACrashGetsAFreshSandbox(t *testing.T) {
	m, _ := newManager(t, time.Minute)
	call(t, m, "k", cfg("f"), "echo")
	call(t, m, "k", cfg("f"), "panic")
	if got := call(t, m, "k", cfg("f"), "echo")["calls"]; got != float64(1) {
		t.Errorf("the invoke after a crash ran as call %v, want 1 in a new sandbox", got)
	}
}

func TestForgetDestroysAFunctionsSandboxes(t *testing.T) {
	m, w := newManager(t, time.Minute)
	call(t, m, "k", cfg("f"), "echo")
	call(t, m, "g", cfg("g"), "echo")
	m.Forget("f")
	waitSandboxes(t, m, w, 1) // f's destroyed, g's kept
}

func TestTheMostRecentlyUsedIdleSandboxTakesTheNextInvoke(t *testing.T) {
	m, w := newManager(t, time.Minute)
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.Invoke(context.Background(), "k", cfg("f"), &invoke.Invocation{RequestID: fmt.Sprint("mru", i), Payload: []byte(`{"op":"sleep","ms":300}`)})
		}()
	}
	wg.Wait()
	if w.Sandboxes() != 3 {
		t.Fatalf("%d sandboxes after 3 overlapping invokes, want 3", w.Sandboxes())
	}
	// Each of the three ran once; one after another, later invokes all go to the same one,
	// so that the other two age out, rather than taking turns.
	for want := 2; want <= 5; want++ {
		if got := call(t, m, "k", cfg("f"), "echo")["calls"]; got != float64(want) {
			t.Fatalf("sequential invoke ran as call %v of its sandbox, want %d: the warm sandboxes take turns", got, want)
		}
	}
}

func TestASandboxPastItsMaxLifetimeIsReplaced(t *testing.T) {
	w, err := worker.New(worker.Config{Backend: process.New(), Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	m, err := assign.New(assign.Config{Placement: placement.Local{Host: w}, IdleTimeout: time.Hour, MaxLifetime: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(); w.Close(context.Background()) })
	if got := call(t, m, "k", cfg("f"), "echo")["calls"]; got != float64(1) {
		t.Fatalf("first invoke was call %v", got)
	}
	waitSandboxes(t, m, w, 0) // reclaimed at its lifetime although the idle timeout is an hour
	if got := call(t, m, "k", cfg("f"), "echo")["calls"]; got != float64(1) {
		t.Errorf("the invoke after the lifetime ran as call %v, want 1 in a fresh sandbox", got)
	}
	// One busy past its lifetime is destroyed when released, not kept.
	if _, err := m.Invoke(context.Background(), "k", cfg("f"), &invoke.Invocation{RequestID: "long", Payload: []byte(`{"op":"sleep","ms":400}`)}); err != nil {
		t.Fatal(err)
	}
	waitSandboxes(t, m, w, 0)
}

func TestAManagerRefusesANegativeMaxLifetime(t *testing.T) {
	if _, err := assign.New(assign.Config{Placement: placement.Local{}, IdleTimeout: time.Minute, MaxLifetime: -time.Second}); err == nil {
		t.Error("a negative max lifetime was accepted")
	}
}

// onlyOne places at most one sandbox on its worker at a time.
type onlyOne struct{ w *worker.Worker }

func (o onlyOne) Place(context.Context, invoke.SandboxSpec) (assign.Host, error) {
	if o.w.Sandboxes() >= 1 {
		return nil, fmt.Errorf("full: %w", assign.ErrNoCapacity)
	}
	return o.w, nil
}

func TestAFullHostEvictsTheLeastRecentlyUsedIdleSandbox(t *testing.T) {
	w, err := worker.New(worker.Config{Backend: process.New(), Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	m, err := assign.New(assign.Config{Placement: onlyOne{w}, IdleTimeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(); w.Close(context.Background()) })
	call(t, m, "f", cfg("f"), "echo")
	if got := call(t, m, "g", cfg("g"), "echo")["calls"]; got != float64(1) {
		t.Fatalf("g ran as call %v", got)
	}
	if w.Sandboxes() != 1 {
		t.Errorf("%d sandboxes, want 1: f's idle one made room for g's", w.Sandboxes())
	}
	// With the one sandbox busy, there is nothing to evict: the invoke is refused.
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.Invoke(context.Background(), "g", cfg("g"), &invoke.Invocation{RequestID: "busy", Payload: []byte(`{"op":"sleep","ms":500}`)})
	}()
	testenv.CheckFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		if m.Stats().Busy != 1 {
			return fmt.Errorf("not busy yet")
		}
		return nil
	})
	if _, err := m.Invoke(context.Background(), "f", cfg("f"), &invoke.Invocation{RequestID: "x", Payload: []byte(`{}`)}); !errors.Is(err, assign.ErrNoCapacity) {
		t.Errorf("with every sandbox busy: %v, want ErrNoCapacity", err)
	}
	<-done
}

func TestProvisionedSandboxesAreWarmKeptAndReleased(t *testing.T) {
	m, w := newManager(t, 100*time.Millisecond)
	n, err := m.Provision(context.Background(), "k", cfg("f"), 2)
	if err != nil || n != 2 || w.Sandboxes() != 2 {
		t.Fatalf("Provision: %d, %v; %d sandboxes, want 2", n, err, w.Sandboxes())
	}
	// Held past the idle timeout, they are not reclaimed.
	time.Sleep(300 * time.Millisecond) // several reclaim rounds (every 25 ms); nothing must happen
	if w.Sandboxes() != 2 {
		t.Fatalf("%d sandboxes after the idle timeout, want the 2 provisioned kept", w.Sandboxes())
	}
	// Two at once run warm in them; a third at the same time spills to a cold one.
	var wg sync.WaitGroup
	var mu sync.Mutex
	var cold []time.Duration
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := m.Invoke(context.Background(), "k", cfg("f"), &invoke.Invocation{RequestID: fmt.Sprint("p", i), Payload: []byte(`{"op":"sleep","ms":300}`)})
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			cold = append(cold, res.InitDuration)
			mu.Unlock()
		}()
	}
	wg.Wait()
	warm := 0
	for _, d := range cold {
		if d == 0 {
			warm++
		}
	}
	if warm != 2 || len(cold) != 3 {
		t.Errorf("init durations %v: want two warm (provisioned) and one cold (spilled)", cold)
	}
	if st := m.Provisioned(); len(st) != 1 || st[0].Pinned != 2 || st[0].Busy != 0 || st[0].Function != "f" {
		t.Errorf("provisioned stats %+v", st)
	}
	waitSandboxes(t, m, w, 2) // the spilled one reclaimed, the provisioned kept
	if n, err := m.Provision(context.Background(), "k", cfg("f"), 0); n != 0 || err != nil {
		t.Fatalf("Provision 0: %d, %v", n, err)
	}
	waitSandboxes(t, m, w, 0) // unpinned, they age out
}
