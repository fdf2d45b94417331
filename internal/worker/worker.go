package worker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ember-serverless/ember/internal/invoke"
	"github.com/ember-serverless/ember/internal/logs"
	"github.com/ember-serverless/ember/internal/sandbox"
)

// Config is what a worker needs.
type Config struct {
	// Backend creates the sandboxes.
	Backend sandbox.Backend
	// Logs receives every log line of every sandbox.
	Logs logs.Writer
	// Region is AWS_REGION inside sandboxes.
	Region string
	// InitTimeout bounds a runtime's init phase (Lambda: 10 s).
	InitTimeout time.Duration
	// FreezeAfter is how long a sandbox stays idle after an invocation before it is frozen
	// (its processes stopped until the next one thaws it). Zero means DefaultFreezeAfter;
	// negative, never.
	FreezeAfter time.Duration
	// ReportSuffix, when set, is appended to every REPORT line (the server uses it to warn that
	// sandboxes are not isolated).
	ReportSuffix string
	Logger       *slog.Logger
}

// Validate reports what is missing.
func (c *Config) Validate() error {
	if c.Backend == nil {
		return fmt.Errorf("worker: a sandbox backend is required")
	}
	if c.Region == "" {
		return fmt.Errorf("worker: a region is required")
	}
	return nil
}

// DefaultFreezeAfter is Config.FreezeAfter's default: short, since an idle sandbox's
// processes run until then (outside its CPU limit, in the jail's burst mode), and long
// enough that a sandbox invoked back to back is never frozen (freezing and thawing one
// costs about 0.2 ms of the server's time here, bench/README.md).
const DefaultFreezeAfter = 10 * time.Millisecond

// Worker runs sandboxes on this host.
type Worker struct {
	cfg    Config
	logger *slog.Logger
	live   sync.Map // id → *Sandbox
	count  atomic.Int64
	// memory is the sum of the live sandboxes' MemoryMB: what they may grow to.
	memory atomic.Int64

	stop      chan struct{} // closed by Close: ends sweepHeld
	closeOnce sync.Once
}

// maxHeld is how long an invocation's END and REPORT wait for its caller's Result.Finish
// before the worker writes them itself.
const maxHeld = time.Second

// New returns a worker.
func New(cfg Config) (*Worker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.InitTimeout == 0 {
		cfg.InitTimeout = 10 * time.Second
	}
	if cfg.FreezeAfter == 0 {
		cfg.FreezeAfter = DefaultFreezeAfter
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	w := &Worker{cfg: cfg, logger: cfg.Logger, stop: make(chan struct{})}
	go w.sweepHeld()
	return w, nil
}

// sweepHeld writes the closing lines of invocations whose caller has not called Finish within
// maxHeld, so that a caller forgetting it delays them but never loses them. It costs a warm
// invoke nothing: the sandboxes are looked at twice per maxHeld, with an atomic load each.
func (w *Worker) sweepHeld() {
	t := time.NewTicker(maxHeld / 2)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case now := <-t.C:
			cutoff := now.Add(-maxHeld).UnixNano()
			w.live.Range(func(_, v any) bool {
				v.(*Sandbox).log.finishHeldSince(cutoff)
				return true
			})
		}
	}
}

// Sandboxes is how many sandboxes this worker holds now.
func (w *Worker) Sandboxes() int { return int(w.count.Load()) }

// MemoryMB is the memory this worker's sandboxes may use together: the sum of their
// MemorySize, which placement packs workers by.
func (w *Worker) MemoryMB() int64 { return w.memory.Load() }

// NewSandbox creates a sandbox for cfg and starts its runtime. The runtime's init runs while
// the first invocation waits for it.
func (w *Worker) NewSandbox(ctx context.Context, cfg invoke.SandboxSpec) (*Sandbox, error) {
	id := newID()
	group := "/aws/lambda/" + cfg.FunctionName
	stream := time.Now().UTC().Format("2006/01/02") + "/[" + cfg.Version + "]" + id
	r, wr, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("sandbox %s: output pipe: %w", id, err)
	}
	logger := w.logger.With("function", cfg.FunctionName, "sandbox", id)
	var exts [][]string
	if len(cfg.LayerDirs) > 0 {
		exts = findExtensions(cfg.LayerDirs)
	}
	spec := sandbox.Spec{
		ID:                 id,
		Runtime:            cfg.Runtime,
		CodeDir:            cfg.CodeDir,
		LayerDirs:          cfg.LayerDirs,
		Command:            cfg.Command,
		Extensions:         exts,
		Env:                w.environment(cfg, group, stream),
		MemoryMB:           cfg.MemoryMB,
		EphemeralStorageMB: cfg.EphemeralStorageMB,
		SnapshotKey:        cfg.SnapshotKey,
		Output:             wr,
	}
	sb, err := w.cfg.Backend.Create(ctx, spec)
	if err != nil {
		r.Close()
		wr.Close()
		return nil, fmt.Errorf("sandbox for %s: %w", cfg.FunctionName, err)
	}
	if _, ok := sb.(sandbox.Dialer); len(exts) > 0 && !ok {
		r.Close()
		wr.Close()
		sb.Destroy(ctx)
		return nil, fmt.Errorf("sandbox for %s: the %s backend does not run Lambda extensions (the function's layers have %d in /opt/extensions)",
			cfg.FunctionName, w.cfg.Backend.Name(), len(exts))
	}
	lc, err := newLogCapture(r, w.cfg.Logs, group, stream)
	if err != nil {
		r.Close()
		wr.Close()
		sb.Destroy(ctx)
		return nil, err
	}
	s := &Sandbox{
		id:      id,
		cfg:     cfg,
		w:       w,
		sb:      sb,
		log:     lc,
		logger:  logger,
		next:    make(chan *call, 1),
		calls:   make(map[string]*call),
		initErr: make(chan initError, 1),
	}
	s.phases, _ = sb.(sandbox.InvokePhases)
	s.body.max = MaxRuntimeBodyBytes
	s.conns = limitConns(sb.RuntimeAPI(), MaxRuntimeConns)
	s.api = runtimeAPIServer(s.routes(), logger)
	var x *extensions
	if len(exts) > 0 {
		x = newExtensions(s, exts)
		s.ext.Store(x)
		lc.setTee(x.tel.functionLine)
		s.api.ConnState = func(c net.Conn, st http.ConnState) {
			if st == http.StateClosed || st == http.StateHijacked {
				x.connClosed(c.RemoteAddr().String())
			}
		}
	}
	if r, ok := sb.(sandbox.Restorer); ok {
		s.restoreDuration = r.RestoreDuration()
	}
	s.started = time.Now() // before Serve: handlers read it
	go s.api.Serve(s.conns)
	w.live.Store(id, s)
	w.count.Add(1)
	w.memory.Add(int64(cfg.MemoryMB))
	if x != nil {
		s.telInitStart(x)
	}
	err = sb.Start(ctx)
	wr.Close() // the runtime holds its own copy; the pipe ends when every copy is closed
	if err != nil {
		s.destroy()
		return nil, fmt.Errorf("sandbox for %s: %w", cfg.FunctionName, err)
	}
	logger.Debug("sandbox started", "backend", w.cfg.Backend.Name())
	return s, nil
}

// environment is what Lambda sets in a runtime's environment, then the function's own.
func (w *Worker) environment(cfg invoke.SandboxSpec, group, stream string) []string {
	env := []string{
		"AWS_LAMBDA_FUNCTION_NAME=" + cfg.FunctionName,
		"AWS_LAMBDA_FUNCTION_VERSION=" + cfg.Version,
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=" + strconv.Itoa(cfg.MemoryMB),
		"AWS_LAMBDA_LOG_GROUP_NAME=" + group,
		"AWS_LAMBDA_LOG_STREAM_NAME=" + stream,
		"AWS_LAMBDA_INITIALIZATION_TYPE=on-demand",
		"AWS_REGION=" + w.cfg.Region,
		"AWS_DEFAULT_REGION=" + w.cfg.Region,
		"_HANDLER=" + cfg.Handler,
		"LAMBDA_TASK_ROOT=/var/task",
		"LAMBDA_RUNTIME_DIR=/var/runtime",
		"LANG=en_US.UTF-8",
		"TZ=:UTC",
		"PATH=/usr/local/bin:/usr/bin/:/bin:/opt/bin",
		"LD_LIBRARY_PATH=/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib",
	}
	keys := make([]string, 0, len(cfg.Env))
	for k := range cfg.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		env = append(env, k+"="+cfg.Env[k])
	}
	return env
}

// Close destroys every sandbox.
func (w *Worker) Close(ctx context.Context) {
	w.closeOnce.Do(func() { close(w.stop) })
	w.live.Range(func(_, v any) bool {
		v.(*Sandbox).Destroy(ctx)
		return true
	})
}

func newID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
