package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ember-serverless/ember/internal/sandbox"
	"github.com/ember-serverless/ember/internal/sandbox/cgroups"
	"github.com/ember-serverless/ember/internal/sandbox/gvisor"
	"github.com/ember-serverless/ember/internal/sandbox/jail"
)

// closer is a backend with Close.
type closer interface {
	sandbox.Backend
	Close() error
}

// newBackend makes a backend with its own state directory and cgroup parent under workDir.
func newBackend(name, workDir, initPath string, logger *slog.Logger) (closer, error) {
	state := filepath.Join(workDir, "state-"+name)
	if err := os.MkdirAll(state, 0o755); err != nil {
		return nil, err
	}
	parent := fmt.Sprintf("ember-bench-%d-%s", os.Getpid(), name)
	switch name {
	case "jail":
		return jail.New(jail.Config{StateDir: state, InitPath: initPath, Cgroups: cgroups.Config{Prefix: parent}}, logger)
	case "gvisor":
		return gvisor.New(gvisor.Config{StateDir: state, Cgroups: cgroups.Config{Prefix: parent}}, logger)
	}
	return nil, fmt.Errorf("unknown backend %q", name)
}

var sandboxSeq atomic.Int64

// live is a started sandbox with its Runtime API.
type live struct {
	sb  sandbox.Sandbox
	api *runtimeAPI
	out *os.File
}

// start creates and starts a sandbox running the echo function and waits until its runtime
// asks for work.
func start(ctx context.Context, b sandbox.Backend, code string, memoryMB int) (*live, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	go drain(r)
	sb, err := b.Create(ctx, sandbox.Spec{
		ID:                 fmt.Sprintf("bench-%d-%d", os.Getpid(), sandboxSeq.Add(1)),
		Runtime:            "provided.al2023",
		CodeDir:            code,
		Command:            []string{"/var/task/bootstrap"},
		Env:                functionEnv,
		MemoryMB:           memoryMB,
		EphemeralStorageMB: 512,
		Output:             w,
	})
	if err != nil {
		w.Close()
		return nil, err
	}
	l := &live{sb: sb, api: serveRuntimeAPI(sb.RuntimeAPI()), out: w}
	if err := sb.Start(ctx); err != nil {
		l.destroy()
		return nil, err
	}
	if err := l.api.waitReady(ctx, sb.Done()); err != nil {
		l.destroy()
		return nil, err
	}
	return l, nil
}

func drain(r *os.File) {
	buf := make([]byte, 4096)
	for {
		if _, err := r.Read(buf); err != nil {
			r.Close()
			return
		}
	}
}

func (l *live) destroy() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l.api.Close()
	l.sb.Destroy(ctx)
	l.out.Close()
}

// coldStart times Create, Start and the first answer of the echo function.
func coldStart(ctx context.Context, b sandbox.Backend, code string, memoryMB int) (time.Duration, error) {
	t0 := time.Now()
	l, err := start(ctx, b, code, memoryMB)
	if err != nil {
		return 0, err
	}
	defer l.destroy()
	if err := l.api.invoke(ctx, l.sb.Done(), []byte(`{"cold":1}`)); err != nil {
		return 0, err
	}
	return time.Since(t0), nil
}

// createRate creates n sandboxes with c concurrent creators, each until its runtime asks for
// work, and returns them with the rate.
func createRate(ctx context.Context, b sandbox.Backend, code string, memoryMB, n, c int) ([]*live, float64, error) {
	var (
		mu    sync.Mutex
		out   []*live
		first error
		left  atomic.Int64
		wg    sync.WaitGroup
	)
	left.Store(int64(n))
	t0 := time.Now()
	for range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for left.Add(-1) >= 0 {
				l, err := start(ctx, b, code, memoryMB)
				mu.Lock()
				if err != nil && first == nil {
					first = err
				}
				if l != nil {
					out = append(out, l)
				}
				mu.Unlock()
				if err != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
	rate := float64(len(out)) / time.Since(t0).Seconds()
	return out, rate, first
}

// usedKiB is the host's memory in use other than the page cache: AnonPages + Shmem + Slab +
// KernelStack + PageTables + Percpu from /proc/meminfo, the median of five reads 50 ms apart.
// Leaving the page cache out keeps other work's file reads (builds on a shared machine) out
// of the figure; what a process or a sandbox costs is in these counters (its anonymous and
// tmpfs pages, page tables, and the kernel objects of its namespaces and mounts).
func usedKiB() int64 {
	var reads []int64
	for i := range 5 {
		if i > 0 {
			time.Sleep(50 * time.Millisecond)
		}
		b, err := os.ReadFile("/proc/meminfo")
		if err != nil {
			return 0
		}
		var used int64
		for _, line := range splitLines(string(b)) {
			f := strings.Fields(line)
			if len(f) < 2 {
				continue
			}
			v, _ := strconv.ParseInt(f[1], 10, 64)
			switch f[0] {
			case "AnonPages:", "Shmem:", "Slab:", "KernelStack:", "PageTables:", "Percpu:":
				used += v
			}
		}
		reads = append(reads, used)
	}
	sort.Slice(reads, func(i, j int) bool { return reads[i] < reads[j] })
	return reads[len(reads)/2]
}

func splitLines(s string) []string { return strings.Split(s, "\n") }

// settle lets freed memory and deferred kernel work land before a reading.
func settle() { time.Sleep(500 * time.Millisecond) }
