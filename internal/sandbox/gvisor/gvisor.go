//go:build linux

package gvisor

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	"github.com/ember-serverless/ember/internal/sandbox"
	"github.com/ember-serverless/ember/internal/sandbox/cgroups"
	"github.com/ember-serverless/ember/internal/sandbox/cgsandbox"
)

// Backend is the gVisor isolation backend.
type Backend struct {
	cfg     Config
	log     *slog.Logger
	cg      cgroups.Manager
	runsc   string
	exe     string
	rootDir string // the shared, read-only root skeleton: mount points and links
	etcDir  string // the sandboxes' generated /etc
	runDir  string // runsc's own state (--root)
	sbxDir  string // one directory per sandbox: bundle and sockets

	ids cgsandbox.IDs

	layerMu sync.Mutex // held while a merge of layers is made
}

var (
	_ sandbox.Backend = (*Backend)(nil)
	_ sandbox.Closer  = (*Backend)(nil)
)

// New checks that this host can run gVisor sandboxes (root, runsc, cgroups), prepares the
// shared root skeleton and returns a backend. Close releases what it set up.
func New(cfg Config, logger *slog.Logger) (*Backend, error) {
	cfg.defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("%w: the server must run as root to start runsc (or use --isolation=none)", ErrUnsupported)
	}
	runsc, err := findRunsc(cfg.Runsc)
	if err != nil {
		return nil, err
	}
	exe := cfg.Executable
	if exe == "" {
		if exe, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("gvisor: %w", err)
		}
	}
	if exe, err = filepath.EvalSymlinks(exe); err != nil {
		return nil, fmt.Errorf("gvisor: %w", err)
	}
	cg, err := cgroups.Detect(cfg.Cgroups)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnsupported, err)
	}
	b := &Backend{
		cfg: cfg, log: logger, cg: cg, runsc: runsc, exe: exe,
		rootDir: filepath.Join(cfg.StateDir, "root"),
		etcDir:  filepath.Join(cfg.StateDir, "etc"),
		runDir:  filepath.Join(cfg.StateDir, "runsc"),
		sbxDir:  filepath.Join(cfg.StateDir, "s"),
	}
	// Sandboxes of a server that died died with it (runsc's sandbox and gofer carry a
	// parent-death signal), but their state, directories and groups did not.
	b.pruneStale()
	if err := b.prepare(); err != nil {
		cg.Close()
		return nil, err
	}
	logger.Info("gvisor backend ready", "runsc", runsc, "platform", cfg.Platform, "cgroup_version", cg.Version(), "state_dir", cfg.StateDir)
	return b, nil
}

func findRunsc(name string) (string, error) {
	if name == "" {
		name = "runsc"
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	if name == "runsc" {
		if _, err := os.Stat("/usr/bin/runsc"); err == nil {
			return "/usr/bin/runsc", nil
		}
	}
	return "", fmt.Errorf("%w: runsc not found (install Debian's runsc package, as scripts/setup does)", ErrUnsupported)
}

// pruneStale removes what a previous run of the server with the same state directory left.
func (b *Backend) pruneStale() {
	if ents, err := os.ReadDir(b.runDir); err == nil && len(ents) > 0 {
		out, _ := exec.Command(b.runsc, "--root", b.runDir, "list", "-q").Output()
		for _, id := range strings.Fields(string(out)) {
			_ = exec.Command(b.runsc, "--root", b.runDir, "delete", "--force", id).Run()
		}
	}
	for _, d := range []string{b.sbxDir, b.cfg.LayerDir} {
		if err := os.RemoveAll(d); err != nil {
			b.log.Warn("could not remove stale sandbox directories", "dir", d, "err", err)
		}
	}
	if err := b.cg.Prune(); err != nil {
		b.log.Warn("could not remove stale sandbox cgroups", "err", err)
	}
}

// prepare builds the shared root skeleton, /etc and the state directories.
func (b *Backend) prepare() error {
	for _, d := range []string{b.cfg.StateDir, b.runDir, b.sbxDir, b.etcDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("gvisor: %w", err)
		}
		if err := os.Chmod(d, 0o755); err != nil {
			return fmt.Errorf("gvisor: %w", err)
		}
	}
	// The skeleton is rebuilt from scratch so a changed HostDirs never meets stale links.
	if err := os.RemoveAll(b.rootDir); err != nil {
		return fmt.Errorf("gvisor: %w", err)
	}
	for _, d := range []string{"proc", "dev", "tmp", "etc", "var/task", "var/runtime", "opt", ".ember"} {
		if err := os.MkdirAll(filepath.Join(b.rootDir, d), 0o755); err != nil {
			return fmt.Errorf("gvisor: %w", err)
		}
	}
	if err := os.WriteFile(filepath.Join(b.rootDir, shimPath), nil, 0o755); err != nil {
		return fmt.Errorf("gvisor: %w", err)
	}
	for _, d := range b.cfg.HostDirs {
		fi, err := os.Lstat(d)
		if err != nil {
			continue
		}
		in := filepath.Join(b.rootDir, d)
		if err := os.MkdirAll(filepath.Dir(in), 0o755); err != nil {
			return fmt.Errorf("gvisor: %w", err)
		}
		switch {
		case fi.Mode()&os.ModeSymlink != 0:
			link, err := os.Readlink(d)
			if err != nil {
				return fmt.Errorf("gvisor: %w", err)
			}
			if err := os.Symlink(link, in); err != nil {
				return fmt.Errorf("gvisor: %w", err)
			}
		case fi.IsDir():
			if err := os.MkdirAll(in, 0o755); err != nil {
				return fmt.Errorf("gvisor: %w", err)
			}
		}
	}
	for name, content := range cgsandbox.EtcFiles(b.cfg.Hostname) {
		if err := os.WriteFile(filepath.Join(b.etcDir, name), []byte(content), 0o644); err != nil {
			return fmt.Errorf("gvisor: %w", err)
		}
	}
	if cache, err := os.ReadFile("/etc/ld.so.cache"); err == nil {
		if err := os.WriteFile(filepath.Join(b.etcDir, "ld.so.cache"), cache, 0o644); err != nil {
			return fmt.Errorf("gvisor: %w", err)
		}
	}
	return nil
}

// Name is "gvisor".
func (b *Backend) Name() string { return "gvisor" }

// Close releases the backend's cgroup manager and removes its state directory (runsc's state,
// the root skeleton, /etc) if no sandbox is left.
func (b *Backend) Close() error {
	idle := b.ids.Len() == 0
	err := b.cg.Close()
	if idle {
		for _, d := range []string{b.runDir, b.sbxDir, b.rootDir, b.etcDir} {
			if rerr := os.RemoveAll(d); rerr != nil {
				err = errors.Join(err, fmt.Errorf("gvisor: %w", rerr))
			}
		}
		_ = os.Remove(b.cfg.StateDir) // only if nothing else is in it
	}
	return err
}

func (b *Backend) validate(spec *sandbox.Spec) error {
	return cgsandbox.ValidateSpec(spec, ErrInvalidSpec)
}

// dirOf is the sandbox's directory: named by a hash of its id, because Unix socket paths are
// limited to 107 bytes and sandbox ids may have 128.
func (b *Backend) dirOf(id string) string {
	sum := sha256.Sum256([]byte(id))
	return filepath.Join(b.sbxDir, hex.EncodeToString(sum[:8]))
}

// Create writes the sandbox's bundle, starts runsc and waits until the shim inside listens on
// the Runtime API address. The runtime waits for Start.
func (b *Backend) Create(ctx context.Context, spec sandbox.Spec) (sandbox.Sandbox, error) {
	if err := b.validate(&spec); err != nil {
		return nil, err
	}
	if err := b.ids.Reserve(spec.ID, ErrInvalidSpec); err != nil {
		return nil, err
	}
	s, err := b.create(ctx, spec, b.dirOf(spec.ID))
	if err != nil {
		b.ids.Release(spec.ID)
		return nil, err
	}
	return s, nil
}

var errNotReady = errors.New("runsc exited before the sandbox was ready")
