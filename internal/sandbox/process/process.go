// Package process is the sandbox backend that isolates nothing: each sandbox is a plain child
// process of the server in its own process group. It exists for development on hosts without
// namespaces (`--isolation=none`) and as the reference the conformance suite is checked
// against; it must never be chosen without the operator asking for it.
package process

import (
	"context"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ember-serverless/ember/internal/sandbox"
)

var (
	_ sandbox.Backend    = (*Backend)(nil)
	_ sandbox.Sandbox    = (*Sandbox)(nil)
	_ sandbox.Dialer     = (*Sandbox)(nil)
	_ sandbox.Unconfined = (*Backend)(nil)
)

// Backend creates plain child processes.
type Backend struct{}

// New returns the process backend.
func New() *Backend { return &Backend{} }

// Name is "none": what the operator asks for to get this backend.
func (*Backend) Name() string { return "none" }

// Unconfined marks the backend as running function code outside any sandbox.
func (*Backend) Unconfined() {}

// Create listens on a loopback port for the sandbox's Runtime API. Several layers are merged
// into a temporary directory that stands for /opt (one layer is used as it is).
func (*Backend) Create(ctx context.Context, spec sandbox.Spec) (sandbox.Sandbox, error) {
	if len(spec.Command) == 0 {
		return nil, fmt.Errorf("sandbox %s: no command", spec.ID)
	}
	for _, e := range spec.Extensions {
		if len(e) == 0 {
			return nil, fmt.Errorf("sandbox %s: an extension has no command", spec.ID)
		}
	}
	s := &Sandbox{spec: spec, done: make(chan struct{})}
	switch len(spec.LayerDirs) {
	case 0:
	case 1:
		s.opt = spec.LayerDirs[0]
	default:
		merged, err := mergeLayers(spec.LayerDirs)
		if err != nil {
			return nil, fmt.Errorf("sandbox %s: merging layers: %w", spec.ID, err)
		}
		s.opt, s.merged = merged, merged
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		s.removeMerged()
		return nil, fmt.Errorf("sandbox %s: runtime api listener: %w", spec.ID, err)
	}
	s.ln = ln
	return s, nil
}

// mergeLayers builds a directory with every layer's files in order, later layers replacing
// what earlier ones put at the same path, as Lambda extracts them into /opt. Files are
// symbolic links to the layers' own (read-only) files; nothing is copied.
func mergeLayers(dirs []string) (_ string, err error) {
	dst, err := os.MkdirTemp("", "ember-opt-")
	if err != nil {
		return "", err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dst)
		}
	}()
	for _, src := range dirs {
		err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, err := filepath.Rel(src, p)
			if err != nil || rel == "." {
				return err
			}
			target := filepath.Join(dst, rel)
			cur, statErr := os.Lstat(target)
			if d.IsDir() {
				if statErr == nil && cur.IsDir() {
					return nil
				}
				if statErr == nil {
					if err := os.RemoveAll(target); err != nil {
						return err
					}
				}
				return os.Mkdir(target, 0o755)
			}
			if statErr == nil {
				if err := os.RemoveAll(target); err != nil {
					return err
				}
			}
			if d.Type()&fs.ModeSymlink != 0 {
				link, err := os.Readlink(p)
				if err != nil {
					return err
				}
				return os.Symlink(link, target)
			}
			return os.Symlink(p, target)
		})
		if err != nil {
			return "", err
		}
	}
	return dst, nil
}

// Sandbox is one child process.
type Sandbox struct {
	spec sandbox.Spec
	ln   net.Listener
	// opt is the host directory standing for /opt ("" without layers); merged is the
	// temporary directory of merged layers this sandbox removes when destroyed.
	opt, merged string

	mu        sync.Mutex
	cmd       *exec.Cmd
	destroyed bool
	exit      sandbox.ExitStatus
	maxRSS    int64
	done      chan struct{}
}

// ID is the spec's ID.
func (s *Sandbox) ID() string { return s.spec.ID }

// RuntimeAPI is the loopback listener created for this sandbox.
func (s *Sandbox) RuntimeAPI() net.Listener { return s.ln }

// hostPath maps a path as the function sees it (/var/task/..., /opt/...) to where it is on the
// host, since this backend mounts nothing.
func (s *Sandbox) hostPath(p string) string {
	switch {
	case p == "/var/task" || strings.HasPrefix(p, "/var/task/"):
		return filepath.Join(s.spec.CodeDir, strings.TrimPrefix(p, "/var/task"))
	case (p == "/opt" || strings.HasPrefix(p, "/opt/")) && s.opt != "":
		return filepath.Join(s.opt, strings.TrimPrefix(p, "/opt"))
	}
	return p
}

// pathListVars are the environment variables holding lists of directories, some of which may
// be in /var/task or /opt.
var pathListVars = map[string]bool{"PATH": true, "LD_LIBRARY_PATH": true, "NODE_PATH": true, "PYTHONPATH": true}

func (s *Sandbox) hostPathList(list string) string {
	parts := strings.Split(list, ":")
	for i, p := range parts {
		parts[i] = s.hostPath(p)
	}
	return strings.Join(parts, ":")
}

func (s *Sandbox) removeMerged() {
	if s.merged != "" {
		os.RemoveAll(s.merged)
	}
}

// Start runs the command with the spec's environment, /var/task mapped to the code directory.
func (s *Sandbox) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.destroyed {
		return sandbox.ErrDestroyed
	}
	if s.cmd != nil {
		return fmt.Errorf("sandbox %s: already started", s.spec.ID)
	}
	env := make([]string, 0, len(s.spec.Env)+1)
	for _, kv := range s.spec.Env {
		if k, v, ok := strings.Cut(kv, "="); ok && (k == "LAMBDA_TASK_ROOT" || k == "PWD") {
			kv = k + "=" + s.hostPath(v)
		} else if ok && pathListVars[k] {
			kv = k + "=" + s.hostPathList(v)
		}
		env = append(env, kv)
	}
	env = append(env, "AWS_LAMBDA_RUNTIME_API="+s.ln.Addr().String())
	cmd := s.command(s.spec.Command, env, 0)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("sandbox %s: start %s: %w", s.spec.ID, s.spec.Command[0], err)
	}
	s.cmd = cmd
	go s.wait(cmd)
	// Extensions join the runtime's process group, so that Destroy kills them with it.
	for _, ext := range s.spec.Extensions {
		ec := s.command(ext, env, cmd.Process.Pid)
		if err := ec.Start(); err != nil {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			return fmt.Errorf("sandbox %s: start extension %s: %w", s.spec.ID, ext[0], err)
		}
		go ec.Wait()
	}
	return nil
}

// command is a process of the sandbox: args as seen inside, in process group pgid (0: a new
// group of its own).
func (s *Sandbox) command(args []string, env []string, pgid int) *exec.Cmd {
	cmd := exec.Command(s.hostPath(args[0]), args[1:]...)
	cmd.Dir = s.spec.CodeDir
	cmd.Env = env
	cmd.Stdout = s.spec.Output
	cmd.Stderr = s.spec.Output
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pgid: pgid, Pdeathsig: syscall.SIGKILL}
	return cmd
}

// Dial connects to addr on the host: a plain process shares the host's network, where
// sandbox.localdomain is taken to be 127.0.0.1.
func (s *Sandbox) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	s.mu.Lock()
	destroyed := s.destroyed
	s.mu.Unlock()
	if destroyed {
		return nil, sandbox.ErrDestroyed
	}
	if host, port, err := net.SplitHostPort(addr); err == nil && host == sandbox.SandboxHostname {
		addr = net.JoinHostPort("127.0.0.1", port)
	}
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}

func (s *Sandbox) wait(cmd *exec.Cmd) {
	st := sandbox.ExitStatusOf(cmd.Wait())
	if ps := cmd.ProcessState; ps != nil {
		if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
			s.mu.Lock()
			s.maxRSS = ru.Maxrss * 1024
			s.mu.Unlock()
		}
	}
	s.mu.Lock()
	s.exit = st
	s.mu.Unlock()
	close(s.done)
}

// Done is closed when the process has exited.
func (s *Sandbox) Done() <-chan struct{} { return s.done }

// Exit tells how the process ended.
func (s *Sandbox) Exit() sandbox.ExitStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.exit
}

// Freeze does nothing: a plain process cannot be frozen without stopping its Runtime API
// connection's keep-alive, and nothing here is isolated anyway.
func (s *Sandbox) Freeze() error { return nil }

// Thaw does nothing; see Freeze.
func (s *Sandbox) Thaw() error { return nil }

// Stats reads the process's peak resident memory.
func (s *Sandbox) Stats() sandbox.Stats {
	s.mu.Lock()
	cmd, rss := s.cmd, s.maxRSS
	s.mu.Unlock()
	if rss == 0 && cmd != nil && cmd.Process != nil {
		rss = vmHWM(cmd.Process.Pid)
	}
	return sandbox.Stats{MaxMemoryBytes: rss}
}

// vmHWM reads a process's peak resident set size from /proc.
func vmHWM(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb int64
			fmt.Sscanf(strings.TrimSpace(rest), "%d", &kb)
			return kb * 1024
		}
	}
	return 0
}

// Destroy kills the process group and closes the listener; a runtime with extensions gets
// SIGTERM and DefaultShutdownGrace first.
func (s *Sandbox) Destroy(ctx context.Context) error {
	s.mu.Lock()
	if s.destroyed {
		s.mu.Unlock()
		return nil
	}
	s.destroyed = true
	cmd := s.cmd
	s.mu.Unlock()
	s.ln.Close()
	defer s.removeMerged()
	if cmd == nil {
		close(s.done)
		return nil
	}
	if len(s.spec.Extensions) > 0 {
		// As on Lambda, a runtime with extensions gets SIGTERM and a grace period first (the
		// worker has sent the extensions SHUTDOWN by now).
		_ = syscall.Kill(cmd.Process.Pid, syscall.SIGTERM)
		t := time.NewTimer(sandbox.DefaultShutdownGrace)
		select {
		case <-s.done:
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-s.done:
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(5 * time.Second):
		return fmt.Errorf("sandbox %s: process %d did not exit after SIGKILL", s.spec.ID, cmd.Process.Pid)
	}
	return nil
}
