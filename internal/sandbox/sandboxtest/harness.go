package sandboxtest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ember-serverless/ember/internal/sandbox"
	"github.com/ember-serverless/ember/internal/sandbox/sandboxtest/testproto"
	"github.com/ember-serverless/ember/internal/testenv"
)

// Capabilities says which guarantees a backend makes beyond running the runtime.
type Capabilities struct {
	// Isolated backends enforce the memory limit (killing and flagging OOM), the pids limit,
	// and report peak memory. The process backend is not isolated.
	Isolated bool
	// Leftovers, when set, lists what the backend left on the host after destroying the
	// sandbox with the given ID (cgroups, files, ...); it must be empty.
	Leftovers func(id string) []string
	// ForkBombOOM backends spend so much memory per process (gVisor copies a forked
	// process's written memory in large chunks, about 2.7 MB for the test function) that a
	// fork bomb exhausts the memory limit before the pids limit: the suite then checks that
	// the sandbox is killed as OOM and the next one works, instead of fork failing at 1,024.
	ForkBombOOM bool
	// UserSpaceKernel backends run the function on a kernel of their own (gVisor's Sentry):
	// the uid_map the function reads is that kernel's (an identity map), not the host's, so
	// RunEscape cannot tell from inside whether it runs as host root. It asks HostUIDs
	// instead for the host uids (real, effective, saved, file system) of the processes that
	// run the sandbox, and none may be 0.
	UserSpaceKernel bool
	HostUIDs        func(id string) []int
	// HostPaths backends run the command at its host path: the suite passes
	// CodeDir/bootstrap instead of /var/task/bootstrap.
	HostPaths bool
}

// Event, Result and EscapeParams are the test function's protocol (see ./testproto).
type (
	Event        = testproto.Event
	Result       = testproto.Result
	EscapeParams = testproto.EscapeParams
)

// markerEnv is set in every test sandbox so that leaked processes can be found by their
// environment.
const markerEnv = "EMBER_SANDBOXTEST_MARKER"

var seq atomic.Int64

// Harness creates sandboxes running the test function and checks they leave nothing behind.
type Harness struct {
	Backend sandbox.Backend
	Caps    Capabilities
	// CodeDir holds the built test function.
	CodeDir string
}

// Options adjust one sandbox.
type Options struct {
	MemoryMB           int // default 256
	EphemeralStorageMB int // default 64
	CodeDir            string
}

// Running is a started sandbox with its Runtime API served.
type Running struct {
	Sandbox sandbox.Sandbox
	API     *RuntimeAPI
	ID      string
	out     *collector
	h       *Harness
}

type collector struct {
	mu  sync.Mutex
	buf bytes.Buffer
	eof chan struct{}
}

func collect(r *os.File) *collector {
	c := &collector{eof: make(chan struct{})}
	go func() {
		defer close(c.eof)
		defer r.Close()
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			c.mu.Lock()
			c.buf.WriteString(sc.Text() + "\n")
			c.mu.Unlock()
		}
	}()
	return c
}

func (c *collector) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}

// Create makes a sandbox and registers its destruction, and the leftover checks, with
// t.Cleanup; it does not start it.
func (h *Harness) Create(t *testing.T, o Options) *Running {
	t.Helper()
	if o.MemoryMB == 0 {
		o.MemoryMB = 256
	}
	if o.EphemeralStorageMB == 0 {
		o.EphemeralStorageMB = 64
	}
	if o.CodeDir == "" {
		o.CodeDir = h.CodeDir
	}
	id := fmt.Sprintf("sbt-%d-%d", os.Getpid(), seq.Add(1))
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	spec := sandbox.Spec{
		ID:                 id,
		Runtime:            "provided.al2023",
		CodeDir:            o.CodeDir,
		Command:            []string{"/var/task/bootstrap"},
		Env:                []string{"PATH=/usr/local/bin:/usr/bin:/bin", "LAMBDA_TASK_ROOT=/var/task", markerEnv + "=" + id},
		MemoryMB:           o.MemoryMB,
		EphemeralStorageMB: o.EphemeralStorageMB,
		Output:             w,
	}
	if h.Caps.HostPaths {
		spec.Command = []string{filepath.Join(o.CodeDir, "bootstrap")}
	}
	ctx, cancel := context.WithTimeout(context.Background(), testenv.Scaled(30*time.Second))
	defer cancel()
	sb, err := h.Backend.Create(ctx, spec)
	if err != nil {
		w.Close()
		r.Close()
		t.Fatalf("Create: %v", err)
	}
	run := &Running{Sandbox: sb, ID: id, out: collect(r), h: h, API: ServeRuntimeAPI(sb.RuntimeAPI())}
	t.Cleanup(func() {
		run.API.Close()
		ctx, cancel := context.WithTimeout(context.Background(), testenv.Scaled(30*time.Second))
		defer cancel()
		if err := sb.Destroy(ctx); err != nil {
			t.Errorf("Destroy: %v", err)
		}
		w.Close()
		h.CheckGone(t, run)
	})
	return run
}

// Start creates and starts a sandbox.
func (h *Harness) Start(t *testing.T, o Options) *Running {
	t.Helper()
	run := h.Create(t, o)
	ctx, cancel := context.WithTimeout(context.Background(), testenv.Scaled(30*time.Second))
	defer cancel()
	if err := run.Sandbox.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	return run
}

// Invoke sends ev and decodes the answer; a runtime error or exit fails the test.
func (r *Running) Invoke(t *testing.T, ev Event) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testenv.Scaled(60*time.Second))
	defer cancel()
	res, err := r.TryInvoke(ctx, ev)
	if err != nil {
		t.Fatalf("invoke %s: %v\noutput:\n%s", ev.Op, err, r.Output())
	}
	return res
}

// TryInvoke sends ev and decodes the answer.
func (r *Running) TryInvoke(ctx context.Context, ev Event) (Result, error) {
	b, _ := json.Marshal(ev)
	resp, err := r.API.Invoke(ctx, r.Sandbox.Done(), b)
	if err != nil {
		return Result{}, err
	}
	if resp.Error {
		return Result{}, fmt.Errorf("function error: %s", resp.Payload)
	}
	var res Result
	if err := json.Unmarshal(resp.Payload, &res); err != nil {
		return Result{}, fmt.Errorf("answer %q: %w", resp.Payload, err)
	}
	return res, nil
}

// Output is what the runtime wrote so far.
func (r *Running) Output() string { return r.out.String() }

// WaitDone waits for the runtime to exit.
func (r *Running) WaitDone(t *testing.T, within time.Duration) sandbox.ExitStatus {
	t.Helper()
	select {
	case <-r.Sandbox.Done():
		return r.Sandbox.Exit()
	case <-time.After(within):
		t.Fatalf("runtime still running after %v", within)
	}
	return sandbox.ExitStatus{}
}

// CheckGone fails the test if anything of the destroyed sandbox is left: processes, mounts,
// cgroups, a listener, or what the backend's Leftovers reports.
func (h *Harness) CheckGone(t *testing.T, r *Running) {
	t.Helper()
	if _, err := r.Sandbox.RuntimeAPI().Accept(); err == nil {
		t.Errorf("the Runtime API listener still accepts after Destroy")
	}
	testenv.CheckFor(t, testenv.Scaled(5*time.Second), 10*time.Millisecond, func() error {
		left := leftovers(r.ID)
		if h.Caps.Leftovers != nil {
			left = append(left, h.Caps.Leftovers(r.ID)...)
		}
		if len(left) > 0 {
			return fmt.Errorf("sandbox %s left behind %s", r.ID, strings.Join(left, "; "))
		}
		return nil
	})
}

// leftovers finds processes carrying the sandbox's marker, host mounts naming it and
// cgroups named after it.
func leftovers(id string) []string {
	var out []string
	marker := []byte(markerEnv + "=" + id + "\x00")
	procs, _ := filepath.Glob("/proc/[0-9]*/environ")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err == nil && bytes.Contains(append(b, 0), marker) {
			out = append(out, "process "+filepath.Base(filepath.Dir(p)))
		}
	}
	if b, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if strings.Contains(line, id) {
				out = append(out, "mount "+line)
			}
		}
	}
	filepath.WalkDir("/sys/fs/cgroup", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if !d.IsDir() {
			return nil
		}
		if d.Name() == id {
			out = append(out, "cgroup "+p)
			return fs.SkipDir
		}
		if strings.Count(p, "/") > 10 {
			return fs.SkipDir
		}
		return nil
	})
	return out
}
