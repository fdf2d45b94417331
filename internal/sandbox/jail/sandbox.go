//go:build linux

package jail

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ember-serverless/ember/internal/sandbox"
	"github.com/ember-serverless/ember/internal/sandbox/cgroups"
	"github.com/ember-serverless/ember/internal/sandbox/cgsandbox"
)

// jailed is one sandbox.
type jailed struct {
	b       *Backend
	id      string
	slot    int
	log     *slog.Logger
	sp      *spawner  // what started the init, and reports its exit
	spawnID int       // the init's request to sp
	proc    *initProc // the init, once started: its pid and pidfd
	ln      net.Listener
	ctrl    *os.File // write end: the init's go signal
	status  *bufio.Reader
	statF   *os.File // read end: the init's reports
	tmp     *tmpDisk // /tmp, when it is on disk

	cgsandbox.Core
}

var (
	_ sandbox.Sandbox      = (*jailed)(nil)
	_ sandbox.InitBooster  = (*jailed)(nil)
	_ sandbox.Dialer       = (*jailed)(nil)
	_ sandbox.InvokePhases = (*jailed)(nil)
)

func (b *Backend) create(ctx context.Context, spec sandbox.Spec, slot int) (_ *jailed, err error) {
	log := b.log.With("sandbox", spec.ID)
	limits := cgroups.ForFunction(spec.MemoryMB)
	if b.cfg.CPUUnbounded {
		limits.CPUMilli = 0
	}
	limits.CPULazy = b.cfg.CPULimit == cgsandbox.CPULimitBurst && !b.cfg.CPUUnbounded
	initial := limits
	if b.cfg.InitBoost > 0 && !b.cfg.CPUUnbounded {
		initial.CPUMilli = max(limits.CPUMilli, 1000)
	}
	cg, err := b.cg.Create(spec.ID, initial)
	if err != nil {
		return nil, fmt.Errorf("jail: %w", err)
	}
	s := &jailed{b: b, id: spec.ID, slot: slot, log: log}
	s.Init("jail: sandbox "+spec.ID, cg, limits.CPUMilli, initial.CPUMilli != limits.CPUMilli, b.cfg.ShutdownGrace)
	if limits.CPULazy {
		s.SetBurst(b.cfg.CPUBurst)
	}
	var toClose []*os.File
	defer func() {
		for _, f := range toClose {
			f.Close()
		}
		if err != nil {
			s.teardown()
		}
	}()

	ctrlR, ctrlW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("jail: %w", err)
	}
	s.ctrl = ctrlW
	statR, statW, err := os.Pipe()
	if err != nil {
		ctrlR.Close()
		return nil, fmt.Errorf("jail: %w", err)
	}
	s.statF, s.status = statR, bufio.NewReader(statR)
	toClose = append(toClose, ctrlR, statW)

	cfg := initConfig{
		Root:       b.rootDir,
		Hostname:   b.cfg.Hostname,
		TmpMB:      spec.EphemeralStorageMB,
		Command:    spec.Command,
		Extensions: spec.Extensions,
		Env:        append(append([]string(nil), spec.Env...), "AWS_LAMBDA_RUNTIME_API="+RuntimeAPIAddr),
		UID:        SandboxUID,
		GID:        SandboxGID,
		Files:      cgsandbox.EtcFiles(b.cfg.Hostname),
		RuntimeFD:  -1,
		TmpFD:      -1,
	}
	shared, exact := b.cfg.RuntimeHostPaths[spec.Runtime]
	if !exact {
		shared = b.cfg.HostDirs
	}
	if err := addHostPaths(&cfg, shared, exact); err != nil {
		return nil, err
	}
	for _, f := range []string{"/etc/ld.so.cache"} {
		if _, err := os.Stat(f); err == nil {
			cfg.HostFiles = append(cfg.HostFiles, f)
		}
	}
	extra := []*os.File{ctrlR, statW}
	// Code, layers and runtime files are handed over as detached read-only mount trees
	// (open_tree), which the init attaches inside its own mount namespace: it could neither
	// reach their host paths (as an unprivileged host uid) nor bind mounts of another
	// namespace.
	pass := func(fd int, name string) int {
		f := os.NewFile(uintptr(fd), name)
		toClose = append(toClose, f)
		extra = append(extra, f)
		return 2 + len(extra) // ExtraFiles[i] is fd 3+i
	}
	openDir := func(dir string) (int, error) {
		fd, err := detachedTree(dir)
		if err != nil {
			return 0, err
		}
		return pass(fd, dir), nil
	}
	if cfg.CodeFD, err = openDir(spec.CodeDir); err != nil {
		return nil, err
	}
	for _, l := range spec.LayerDirs {
		fd, err := openDir(l)
		if err != nil {
			return nil, err
		}
		cfg.LayerFDs = append(cfg.LayerFDs, fd)
	}
	if rd, ok := b.cfg.RuntimeDirs[spec.Runtime]; ok {
		if cfg.RuntimeFD, err = openDir(rd); err != nil {
			return nil, err
		}
	}

	if b.tmp != nil {
		t, fd, err := b.tmp.take(ctx, spec.EphemeralStorageMB)
		if err != nil {
			return nil, err
		}
		s.tmp = t
		cfg.TmpFD = pass(fd, "/tmp")
	}

	base := b.cfg.UIDBase + uint32(slot)*idSpan
	if s.sp, err = b.theSpawner(); err != nil {
		return nil, err
	}
	pid, pidfd, spawnID, err := s.sp.spawn([]string{initArg0, spec.ID}, base, spec.Output, extra)
	if err != nil {
		return nil, err
	}
	// The pidfd names the init even after it is reaped, so its network namespace is never
	// confused with a process that reused the pid.
	s.spawnID = spawnID
	s.proc = &initProc{pid: pid, pidfd: pidfd}
	go s.wait()
	for _, f := range toClose {
		f.Close()
	}
	toClose = nil

	if err := cg.Add(pid); err != nil {
		return nil, fmt.Errorf("jail: %w", err)
	}
	// The init reads its configuration only now, so it unshares its cgroup namespace inside
	// the sandbox's group.
	blob, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("jail: %w", err)
	}
	if _, err := ctrlW.Write(append(blob, '\n')); err != nil {
		return nil, fmt.Errorf("jail: configure init: %w", err)
	}
	if s.ln, err = listenInNetns(pidfd, pid, RuntimeAPIAddr); err != nil {
		return nil, err
	}
	if err := s.readStatus(ctx, cgsandbox.StatusReady); err != nil {
		return nil, err
	}
	log.Debug("sandbox created", "pid", pid, "uid_base", base)
	return s, nil
}

// readStatus reads the init's next report (cgsandbox.ReadStatus).
func (s *jailed) readStatus(ctx context.Context, want string) error {
	if err := cgsandbox.ReadStatus(ctx, s.statF, s.status, "init", want); err != nil {
		return fmt.Errorf("jail: sandbox %s: %w", s.id, err)
	}
	return nil
}

func (s *jailed) wait() {
	s.Exited(s.sp.wait(s.spawnID))
}

// Dial connects to addr from inside the sandbox's network namespace, where
// sandbox.localdomain is 127.0.0.1.
func (s *jailed) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if host, port, err := net.SplitHostPort(addr); err == nil && host == sandbox.SandboxHostname {
		addr = net.JoinHostPort("127.0.0.1", port)
	}
	// Under mu, so that Destroy cannot tear the sandbox down (and its pid be reused) while
	// the namespace is entered; without a pidfd, a sandbox whose init has exited is not dialled.
	s.Mu.Lock()
	defer s.Mu.Unlock()
	if err := s.Alive(); err != nil {
		return nil, err
	}
	if s.proc.pidfd == nil {
		select {
		case <-s.Done():
			return nil, sandbox.ErrDestroyed
		default:
		}
	}
	return dialInNetns(ctx, s.proc.pidfd, s.proc.pid, network, addr)
}

func (s *jailed) ID() string               { return s.id }
func (s *jailed) RuntimeAPI() net.Listener { return s.ln }

// Start lets the init exec the runtime.
func (s *jailed) Start(ctx context.Context) error {
	return s.Core.Start(func() error {
		if _, err := s.ctrl.Write([]byte{'s'}); err != nil {
			return fmt.Errorf("jail: sandbox %s: start: %w", s.id, err)
		}
		err := s.readStatus(ctx, "")
		s.ctrl.Close()
		s.statF.Close()
		return err
	}, s.b.cfg.InitBoost)
}

// Destroy asks the runtime to stop (SIGTERM), kills whatever is left after the grace period,
// and removes the cgroup and listener. Nothing of the sandbox is on the host file system: its
// mounts live and die with its mount namespace.
func (s *jailed) Destroy(ctx context.Context) error {
	var proc cgsandbox.Signaler // nil, not a nil *initProc, when the init never started
	if s.proc != nil {
		proc = s.proc
	}
	return s.Core.Destroy(ctx, proc, true, s.teardown)
}

// teardown kills everything and releases every host resource of the sandbox.
func (s *jailed) teardown() error {
	var errs []error
	ran := s.proc != nil
	if ran {
		_ = s.proc.Signal(syscall.SIGKILL)
		if err := s.CG.Kill(10 * time.Second); err != nil {
			errs = append(errs, err)
		}
		select {
		case <-s.Done():
		case <-time.After(10 * time.Second):
			errs = append(errs, fmt.Errorf("jail: sandbox %s: init did not exit", s.id))
		}
	}
	if s.tmp != nil {
		if len(errs) == 0 {
			// Nothing of the sandbox runs any more: its /tmp may be cleaned for another.
			s.b.tmp.give(s.tmp, ran)
		} else {
			s.tmp.release()
		}
		s.tmp = nil
	}
	closers := []io.Closer{s.ln, s.ctrl, s.statF}
	if s.proc != nil {
		closers = append(closers, s.proc.pidfd)
	}
	for _, c := range closers {
		if c != nil {
			c.Close() // a nil *os.File only reports os.ErrInvalid
		}
	}
	s.Stats()
	if err := s.CG.Delete(); err != nil {
		errs = append(errs, err)
	}
	s.b.release(s.id, s.slot)
	if len(errs) > 0 {
		s.log.Warn("sandbox teardown incomplete", "err", errors.Join(errs...))
	}
	return errors.Join(errs...)
}

// detachedTree clones the mount tree at dir into a detached, read-only, nosuid, nodev mount
// and returns its file descriptor.
func detachedTree(dir string) (int, error) {
	fd, err := unix.OpenTree(unix.AT_FDCWD, dir, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_RECURSIVE)
	if err != nil {
		return 0, fmt.Errorf("jail: clone mount of %s: %w", dir, err)
	}
	attr := &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV}
	if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, attr); err != nil {
		unix.Close(fd)
		return 0, fmt.Errorf("jail: make %s read-only: %w", dir, err)
	}
	return fd, nil
}

// addHostPaths shares host paths into the sandbox: directories bound read-only, symbolic links
// recreated as links, and, when files is set, single files bound read-only. A directory on a
// path that is a link on the host (/lib -> usr/lib on merged-/usr systems) is recreated as that
// link, and what lies under it is shared at its resolved place, so that every name the host's
// dynamic linker and its cache use resolves in the sandbox as on the host. Paths under a
// directory already shared are covered by it; missing paths are skipped.
func addHostPaths(cfg *initConfig, paths []string, files bool) error {
	links := map[string]string{}
	var resolved []string
	for _, p := range paths {
		if !files {
			resolved = append(resolved, p)
			continue
		}
		dir, err := filepath.EvalSymlinks(filepath.Dir(p))
		if err != nil {
			continue
		}
		for d := filepath.Dir(p); d != "/"; d = filepath.Dir(d) {
			if fi, err := os.Lstat(d); err == nil && fi.Mode()&os.ModeSymlink != 0 {
				if links[d], err = os.Readlink(d); err != nil {
					return fmt.Errorf("jail: %w", err)
				}
			}
		}
		resolved = append(resolved, filepath.Join(dir, filepath.Base(p)))
	}
	for _, d := range slices.Sorted(maps.Keys(links)) {
		cfg.HostDirs = append(cfg.HostDirs, hostDir{Path: d, Link: links[d]})
	}
	slices.Sort(resolved) // a directory before what lies under it
	resolved = slices.Compact(resolved)
	var dirs []string
	covered := func(p string) bool {
		for _, d := range dirs {
			if strings.HasPrefix(p, d+"/") {
				return true
			}
		}
		return false
	}
	for _, p := range resolved {
		if covered(p) {
			continue
		}
		fi, err := os.Lstat(p)
		switch {
		case err != nil:
			continue
		case fi.Mode()&os.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return fmt.Errorf("jail: %w", err)
			}
			cfg.HostDirs = append(cfg.HostDirs, hostDir{Path: p, Link: link})
		case fi.IsDir():
			cfg.HostDirs = append(cfg.HostDirs, hostDir{Path: p})
			dirs = append(dirs, p)
		case files && fi.Mode().IsRegular():
			cfg.HostFiles = append(cfg.HostFiles, p)
		}
	}
	return nil
}

// initProc is a sandbox's init, which the spawner, not the server, started. It is signalled
// through its pidfd, which names it even once the spawner has reaped it, never by a pid that
// may have been reused since.
type initProc struct {
	pid   int
	pidfd *os.File // nil where the kernel has no pidfds
}

func (p *initProc) Signal(sig os.Signal) error {
	n, ok := sig.(syscall.Signal)
	if !ok {
		return fmt.Errorf("jail: cannot send %v", sig)
	}
	if p.pidfd != nil {
		return unix.PidfdSendSignal(int(p.pidfd.Fd()), n, nil, 0)
	}
	return syscall.Kill(p.pid, n)
}
