//go:build linux

package gvisor

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ember-serverless/ember/internal/sandbox"
	"github.com/ember-serverless/ember/internal/sandbox/cgroups"
)

// hostPids bounds the host tasks (Sentry threads and ptrace stubs) of one sandbox.
const hostPids = 8 * cgroups.DefaultPids

// gvisored is one sandbox.
type gvisored struct {
	b    *Backend
	id   string
	dir  string
	log  *slog.Logger
	cmd  *exec.Cmd // runsc run
	cg   cgroups.Group
	api  net.Listener
	ctlL net.Listener
	ctl  net.Conn
	ctlR *bufio.Reader

	dialer     *dialer
	extensions bool // the runtime has extensions: SIGTERM and a grace period before the kill

	done chan struct{}
	exit sandbox.ExitStatus
	peak atomic.Int64

	cpuMilli   int64       // the CPU the function's memory buys
	boosted    atomic.Bool // still in the init phase's CPU boost
	boostTimer *time.Timer

	mu        sync.Mutex
	started   bool
	destroyed bool
}

var (
	_ sandbox.Sandbox = (*gvisored)(nil)
	_ sandbox.Dialer  = (*gvisored)(nil)
)

func (b *Backend) create(ctx context.Context, spec sandbox.Spec, dir string) (_ *gvisored, err error) {
	log := b.log.With("sandbox", spec.ID)
	limits := cgroups.ForFunction(spec.MemoryMB)
	limits.CPUMilli = max(limits.CPUMilli, b.cfg.MinCPUMilli)
	// Inside, RLIMIT_NPROC holds the function to Lambda's 1,024 processes. The host group
	// holds the Sentry's own threads and a ptrace stub (with threads) per process besides, so
	// its bound is wider: it only keeps a fork bomb from reaching the host's pid space.
	limits.Pids = hostPids
	// As in the jail, the init phase gets at least one vCPU: here the Sentry does the
	// runtime's system calls and page faults on the function's CPU, and at 128 MB (7% of a
	// CPU) a cold start would take seconds.
	initial := limits
	if b.cfg.InitBoost > 0 {
		initial.CPUMilli = max(limits.CPUMilli, 1000)
	}
	cg, err := b.cg.Create(spec.ID, initial)
	if err != nil {
		return nil, fmt.Errorf("gvisor: %w", err)
	}
	s := &gvisored{b: b, id: spec.ID, dir: dir, log: log, cg: cg, done: make(chan struct{}), cpuMilli: limits.CPUMilli,
		extensions: len(spec.Extensions) > 0}
	s.boosted.Store(initial.CPUMilli != limits.CPUMilli)
	defer func() {
		if err != nil {
			s.teardown()
		}
	}()
	sock := filepath.Join(dir, "sock")
	if err := os.MkdirAll(sock, 0o755); err != nil {
		return nil, fmt.Errorf("gvisor: %w", err)
	}
	if s.api, err = listenUnix(filepath.Join(sock, apiSocket)); err != nil {
		return nil, err
	}
	if s.ctlL, err = listenUnix(filepath.Join(sock, ctrlSocket)); err != nil {
		return nil, err
	}
	dl, err := listenUnix(filepath.Join(sock, dialSocket))
	if err != nil {
		return nil, err
	}
	s.dialer = newDialer(dl)
	if err := b.bundle(dir, spec); err != nil {
		return nil, err
	}
	args := []string{"--root", b.runDir, "--platform", b.cfg.Platform, "--network", "none", "--host-uds", "open", "--ignore-cgroups", "--oci-seccomp"}
	if b.cfg.DebugLogDir != "" {
		args = append(args, "--debug", "--debug-log", b.cfg.DebugLogDir+"/")
	}
	s.cmd = exec.Command(b.runsc, append(args, "run", "--bundle", dir, spec.ID)...)
	s.cmd.Stdout, s.cmd.Stderr = spec.Output, spec.Output
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		s.cmd = nil
		return nil, fmt.Errorf("gvisor: start runsc: %w", err)
	}
	go s.wait()

	if s.ctl, err = s.accept(ctx); err != nil {
		return nil, err
	}
	s.ctlR = bufio.NewReader(s.ctl)
	if err := s.readStatus(ctx, "ready"); err != nil {
		return nil, err
	}
	// The Sentry (and the ptrace stubs that run the function) join the sandbox's group only
	// now: gVisor's own boot is not the function's, and stubs forked later inherit the group.
	if err := s.joinGroup(); err != nil {
		return nil, err
	}
	log.Debug("sandbox created", "pid", s.cmd.Process.Pid)
	return s, nil
}

func listenUnix(path string) (net.Listener, error) {
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("gvisor: %w", err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(true)
	if err := os.Chmod(path, 0o666); err != nil {
		ln.Close()
		return nil, fmt.Errorf("gvisor: %w", err)
	}
	return ln, nil
}

// accept waits for the shim to connect to the control socket.
func (s *gvisored) accept(ctx context.Context) (net.Conn, error) {
	type result struct {
		c   net.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		c, err := s.ctlL.Accept()
		ch <- result{c, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			return nil, fmt.Errorf("gvisor: sandbox %s: %w", s.id, r.err)
		}
		return r.c, nil
	case <-s.done:
		return nil, fmt.Errorf("gvisor: sandbox %s: %w (%s)", s.id, errNotReady, s.exitString())
	case <-ctx.Done():
		return nil, fmt.Errorf("gvisor: sandbox %s: %w", s.id, ctx.Err())
	}
}

func (s *gvisored) exitString() string {
	st := s.exit
	if st.Signal != "" {
		return "signal: " + st.Signal
	}
	return "exit status " + strconv.Itoa(st.Code)
}

// readStatus reads the shim's next report: want, an "error: ..." line, or end of file (which
// is what a successful exec looks like; want == "" accepts it).
func (s *gvisored) readStatus(ctx context.Context, want string) error {
	stop := context.AfterFunc(ctx, func() { s.ctl.SetReadDeadline(time.Now()) })
	defer stop()
	line, err := s.ctlR.ReadString('\n')
	line = strings.TrimSuffix(line, "\n")
	switch {
	case strings.HasPrefix(line, "error: "):
		return fmt.Errorf("gvisor: sandbox %s: %s", s.id, strings.TrimPrefix(line, "error: "))
	case err == io.EOF && line == "" && want == "":
		return nil
	case err != nil:
		if ctx.Err() != nil {
			return fmt.Errorf("gvisor: sandbox %s: %w", s.id, ctx.Err())
		}
		return fmt.Errorf("gvisor: sandbox %s: the shim ended before it was %s: %w", s.id, cmp(want, "started"), err)
	case line != want:
		return fmt.Errorf("gvisor: sandbox %s: the shim said %q", s.id, line)
	}
	return nil
}

func cmp(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// joinGroup moves runsc's sandbox process (the Sentry) and everything below it into the
// sandbox's cgroup. The gofer, which serves files to the Sentry from the host, stays with the
// server, as the worker does.
func (s *gvisored) joinGroup() error {
	kids := children()
	var sentry int
	for _, p := range kids[s.cmd.Process.Pid] {
		if cmdline(p) == "runsc-sandbox" {
			sentry = p
		}
	}
	if sentry == 0 {
		return fmt.Errorf("gvisor: sandbox %s: runsc's sandbox process not found", s.id)
	}
	todo := []int{sentry}
	for len(todo) > 0 {
		p := todo[0]
		todo = append(todo[1:], kids[p]...)
		if err := s.cg.Add(p); err != nil {
			return fmt.Errorf("gvisor: sandbox %s: %w", s.id, err)
		}
	}
	return nil
}

// children maps every process to its children, from /proc.
func children() map[int][]int {
	out := map[int][]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces and parentheses.
		rest := string(b)
		if i := strings.LastIndexByte(rest, ')'); i >= 0 {
			rest = rest[i+1:]
		}
		f := strings.Fields(rest)
		if len(f) < 2 {
			continue
		}
		if ppid, err := strconv.Atoi(f[1]); err == nil {
			out[ppid] = append(out[ppid], pid)
		}
	}
	return out
}

// cmdline is a process's argv[0].
func cmdline(pid int) string {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	arg0, _, _ := strings.Cut(string(b), "\x00")
	return arg0
}

func (s *gvisored) wait() {
	err := s.cmd.Wait()
	st := sandbox.ExitStatus{}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		ws := ee.Sys().(syscall.WaitStatus)
		switch {
		case ws.Signaled():
			st.Code, st.Signal = -1, ws.Signal().String()
		case ws.ExitStatus() > 128 && ws.ExitStatus() < 128+65:
			// runsc reports a container killed by a signal as 128 + the signal, as shells do.
			st.Code, st.Signal = -1, syscall.Signal(ws.ExitStatus()-128).String()
		default:
			st.Code = ws.ExitStatus()
		}
	} else if err != nil {
		st.Code = -1
	}
	if n, err := s.cg.OOMKills(); err == nil && n > 0 {
		st.OOM = true
	}
	s.Stats()
	s.exit = st
	close(s.done)
}

func (s *gvisored) ID() string               { return s.id }
func (s *gvisored) RuntimeAPI() net.Listener { return s.api }
func (s *gvisored) Done() <-chan struct{}    { return s.done }
func (s *gvisored) Exit() sandbox.ExitStatus { <-s.done; return s.exit }

// Stats reads the peak memory of the sandbox's cgroup; after Destroy it reports the last
// figure read.
func (s *gvisored) Stats() sandbox.Stats {
	if n, err := s.cg.PeakMemory(); err == nil && n > 0 {
		for {
			old := s.peak.Load()
			if n <= old || s.peak.CompareAndSwap(old, n) {
				break
			}
		}
	}
	return sandbox.Stats{MaxMemoryBytes: s.peak.Load()}
}

func (s *gvisored) alive() error {
	if s.destroyed {
		return sandbox.ErrDestroyed
	}
	return nil
}

// Start lets the shim exec the runtime.
func (s *gvisored) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.alive(); err != nil {
		return err
	}
	if s.started {
		return fmt.Errorf("gvisor: sandbox %s already started", s.id)
	}
	s.started = true
	if _, err := s.ctl.Write([]byte{'s'}); err != nil {
		return fmt.Errorf("gvisor: sandbox %s: start: %w", s.id, err)
	}
	err := s.readStatus(ctx, "")
	s.ctl.Close()
	s.ctlL.Close()
	if err == nil {
		_ = s.cg.ResetPeak()
		if s.boosted.Load() {
			s.boostTimer = time.AfterFunc(s.b.cfg.InitBoost, func() { s.EndInitBoost() })
		}
	}
	return err
}

// EndInitBoost cuts the sandbox's CPU to its memory's share; the worker calls it at the
// runtime's first /next. It is safe to call more than once and after Destroy.
func (s *gvisored) EndInitBoost() error {
	if !s.boosted.CompareAndSwap(true, false) {
		return nil
	}
	if err := s.cg.SetCPU(s.cpuMilli); err != nil {
		return fmt.Errorf("gvisor: sandbox %s: end init boost: %w", s.id, err)
	}
	return nil
}

// Freeze stops every process of the Sentry with the cgroup freezer. An idle sandbox has
// finished its init, so the init boost ends here at the latest.
func (s *gvisored) Freeze() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.alive(); err != nil {
		return err
	}
	if err := s.EndInitBoost(); err != nil {
		return err
	}
	return s.cg.Freeze()
}

func (s *gvisored) Thaw() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.alive(); err != nil {
		return err
	}
	return s.cg.Thaw()
}

// Destroy kills the sandbox and removes runsc's state, the bundle, the sockets and the cgroup.
// As on Lambda, a runtime with extensions is first asked to stop (runsc forwards SIGTERM to
// it) and gets the grace period; without extensions it is killed at once. (Asking runsc to
// forward SIGTERM also makes runsc shut the whole sandbox down itself, which takes it over a
// second under ptrace; killing the Sentry takes a few milliseconds.)
func (s *gvisored) Destroy(ctx context.Context) error {
	s.mu.Lock()
	if s.destroyed {
		s.mu.Unlock()
		return nil
	}
	s.destroyed = true
	started := s.started
	if s.boostTimer != nil {
		s.boostTimer.Stop()
	}
	s.boosted.Store(false)
	s.mu.Unlock()

	if started && s.cmd != nil && s.extensions {
		select {
		case <-s.done:
		default:
			_ = s.cg.Thaw()
			_ = s.cmd.Process.Signal(syscall.SIGTERM)
			t := time.NewTimer(s.b.cfg.ShutdownGrace)
			select {
			case <-s.done:
			case <-t.C:
			case <-ctx.Done():
			}
			t.Stop()
		}
	}
	return s.teardown()
}

// teardown kills everything and releases every host resource of the sandbox.
func (s *gvisored) teardown() error {
	var errs []error
	if s.cmd != nil && s.cmd.Process != nil {
		// Killing the Sentry ends the container: runsc run then stops the gofer, removes its
		// state and exits by itself, which is quicker than `runsc delete`.
		_ = s.cg.Thaw()
		if err := s.cg.Kill(10 * time.Second); err != nil {
			errs = append(errs, err)
		}
		select {
		case <-s.done:
		case <-time.After(5 * time.Second):
			// runsc's sandbox and gofer die with runsc (parent-death signal).
			_ = s.cmd.Process.Kill()
			<-s.done
		}
		// runsc leaves its state files behind when its sandbox was killed.
		if left, _ := filepath.Glob(filepath.Join(s.b.runDir, s.id+"_sandbox:*")); len(left) > 0 {
			if out, err := exec.Command(s.b.runsc, "--root", s.b.runDir, "delete", "--force", s.id).CombinedOutput(); err != nil {
				errs = append(errs, fmt.Errorf("gvisor: sandbox %s: runsc delete: %v: %s", s.id, err, bytes.TrimSpace(out)))
			}
		}
	}
	for _, c := range []io.Closer{s.api, s.ctlL, s.ctl} {
		if c != nil {
			c.Close()
		}
	}
	if s.dialer != nil {
		s.dialer.close()
	}
	if err := os.RemoveAll(s.dir); err != nil {
		errs = append(errs, fmt.Errorf("gvisor: %w", err))
	}
	s.Stats()
	if err := s.cg.Delete(); err != nil {
		errs = append(errs, err)
	}
	s.b.release(s.id)
	if len(errs) > 0 {
		s.log.Warn("sandbox teardown incomplete", "err", errors.Join(errs...))
	}
	return errors.Join(errs...)
}
