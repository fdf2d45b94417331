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
	"syscall"
	"time"

	"github.com/ember-serverless/ember/internal/sandbox"
	"github.com/ember-serverless/ember/internal/sandbox/cgroups"
	"github.com/ember-serverless/ember/internal/sandbox/cgsandbox"
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
	api  net.Listener
	ctlL net.Listener
	ctl  net.Conn
	ctlR *bufio.Reader

	dialer     *dialer
	extensions bool // the runtime has extensions: SIGTERM and a grace period before the kill

	cgsandbox.Core
}

var (
	_ sandbox.Sandbox     = (*gvisored)(nil)
	_ sandbox.Dialer      = (*gvisored)(nil)
	_ sandbox.InitBooster = (*gvisored)(nil)
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
	s := &gvisored{b: b, id: spec.ID, dir: dir, log: log, extensions: len(spec.Extensions) > 0}
	s.Init("gvisor: sandbox "+spec.ID, cg, limits.CPUMilli, initial.CPUMilli != limits.CPUMilli, b.cfg.ShutdownGrace)
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
	if err := s.readStatus(ctx, cgsandbox.StatusReady); err != nil {
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
	case <-s.Done():
		return nil, fmt.Errorf("gvisor: sandbox %s: %w (%s)", s.id, errNotReady, s.exitString())
	case <-ctx.Done():
		return nil, fmt.Errorf("gvisor: sandbox %s: %w", s.id, ctx.Err())
	}
}

func (s *gvisored) exitString() string {
	st := s.Exit()
	if st.Signal != "" {
		return "signal: " + st.Signal
	}
	return "exit status " + strconv.Itoa(st.Code)
}

// readStatus reads the shim's next report (cgsandbox.ReadStatus).
func (s *gvisored) readStatus(ctx context.Context, want string) error {
	if err := cgsandbox.ReadStatus(ctx, s.ctl, s.ctlR, "the shim", want); err != nil {
		return fmt.Errorf("gvisor: sandbox %s: %w", s.id, err)
	}
	return nil
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
		if err := s.CG.Add(p); err != nil {
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
	st := sandbox.ExitStatusOf(s.cmd.Wait())
	if st.Signal == "" && st.Code > 128 && st.Code < 128+65 {
		// runsc reports a container killed by a signal as 128 + the signal, as shells do.
		st.Code, st.Signal = -1, syscall.Signal(st.Code-128).String()
	}
	s.Exited(st)
}

func (s *gvisored) ID() string               { return s.id }
func (s *gvisored) RuntimeAPI() net.Listener { return s.api }

// Start lets the shim exec the runtime.
func (s *gvisored) Start(ctx context.Context) error {
	return s.Core.Start(func() error {
		if _, err := s.ctl.Write([]byte{'s'}); err != nil {
			return fmt.Errorf("gvisor: sandbox %s: start: %w", s.id, err)
		}
		err := s.readStatus(ctx, "")
		s.ctl.Close()
		s.ctlL.Close()
		return err
	}, s.b.cfg.InitBoost)
}

// Destroy kills the sandbox and removes runsc's state, the bundle, the sockets and the cgroup.
// As on Lambda, a runtime with extensions is first asked to stop (runsc forwards SIGTERM to
// it) and gets the grace period; without extensions it is killed at once. (Asking runsc to
// forward SIGTERM also makes runsc shut the whole sandbox down itself, which takes it over a
// second under ptrace; killing the Sentry takes a few milliseconds.)
func (s *gvisored) Destroy(ctx context.Context) error {
	var proc cgsandbox.Signaler // nil, not a nil *os.Process, when runsc never started
	if s.cmd != nil && s.cmd.Process != nil {
		proc = s.cmd.Process
	}
	return s.Core.Destroy(ctx, proc, s.extensions, s.teardown)
}

// teardown kills everything and releases every host resource of the sandbox.
func (s *gvisored) teardown() error {
	var errs []error
	if s.cmd != nil && s.cmd.Process != nil {
		// Killing the Sentry ends the container: runsc run then stops the gofer, removes its
		// state and exits by itself, which is quicker than `runsc delete`.
		_ = s.CG.Thaw()
		if err := s.CG.Kill(10 * time.Second); err != nil {
			errs = append(errs, err)
		}
		select {
		case <-s.Done():
		case <-time.After(5 * time.Second):
			// runsc's sandbox and gofer die with runsc (parent-death signal).
			_ = s.cmd.Process.Kill()
			<-s.Done()
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
	if err := s.CG.Delete(); err != nil {
		errs = append(errs, err)
	}
	s.b.ids.Release(s.id)
	if len(errs) > 0 {
		s.log.Warn("sandbox teardown incomplete", "err", errors.Join(errs...))
	}
	return errors.Join(errs...)
}
