//go:build linux

package jail

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"syscall"

	"github.com/ember-serverless/ember/internal/sandbox"
	"github.com/ember-serverless/ember/internal/sandbox/cgroups"
	"github.com/ember-serverless/ember/internal/sandbox/cgsandbox"
)

// Backend is the jail isolation backend.
type Backend struct {
	cfg     Config
	log     *slog.Logger
	cg      cgroups.Manager
	rootDir string        // the shared, empty mount point of every sandbox's root
	tmp     *tmpDisks     // nil: /tmp is a tmpfs
	init    *os.File      // Config.InitPath, opened once; nil: /proc/self/exe
	spawner *spawner      // starts the inits
	anchor  cgroups.Group // see keepKernelPathsOn

	mu    sync.Mutex
	slots []bool // uid ranges in use
	ids   map[string]bool
}

var (
	_ sandbox.Backend = (*Backend)(nil)
	_ sandbox.Closer  = (*Backend)(nil)
)

// New checks that this host can run jails (root, user namespaces, cgroups) and returns a
// backend. Close releases what it set up.
func New(cfg Config, logger *slog.Logger) (*Backend, error) {
	cfg.defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("%w: the server must run as root to create sandboxes (or use --isolation=none)", ErrUnsupported)
	}
	if _, err := os.Stat("/proc/self/ns/user"); err != nil {
		return nil, fmt.Errorf("%w: the kernel has no user namespaces: %v", ErrUnsupported, err)
	}
	if b, err := os.ReadFile("/proc/sys/user/max_user_namespaces"); err == nil && string(b) == "0\n" {
		return nil, fmt.Errorf("%w: user namespaces are disabled (user.max_user_namespaces = 0)", ErrUnsupported)
	}
	cg, err := cgroups.Detect(cfg.Cgroups)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnsupported, err)
	}
	// Sandboxes of a server that died are gone with their init (parent-death signal), but
	// their groups are not.
	if err := cg.Prune(); err != nil {
		logger.Warn("could not remove stale sandbox cgroups", "err", err)
	}
	anchor := keepKernelPathsOn(cg, logger)
	rootDir := filepath.Join(cfg.StateDir, "root")
	if err := os.MkdirAll(rootDir, 0o755); err != nil {
		cg.Close()
		return nil, fmt.Errorf("jail: %w", err)
	}
	if err := checkSearchable(rootDir); err != nil {
		cg.Close()
		return nil, err
	}
	var initFile *os.File
	if cfg.InitPath != "" {
		if initFile, err = openInit(cfg.InitPath); err != nil {
			cg.Close()
			return nil, err
		}
	}
	sp, err := startSpawner(initFile)
	if err != nil {
		if initFile != nil {
			initFile.Close()
		}
		cg.Close()
		return nil, err
	}
	tmp, err := newTmpDisks(cfg.ScratchDir)
	if err != nil {
		logger.Warn("sandboxes' /tmp is memory (tmpfs), counted against each function's memory: it cannot be made on disk here",
			"err", err)
	}
	logger.Info("jail backend ready", "cgroup_version", cg.Version(), "state_dir", cfg.StateDir, "tmp_on_disk", tmp != nil,
		"cpu_limit", cfg.CPULimit, "cpu_burst", cfg.CPUBurst)
	return &Backend{
		anchor:  anchor,
		cfg:     cfg,
		log:     logger,
		cg:      cg,
		rootDir: rootDir,
		tmp:     tmp,
		init:    initFile,
		spawner: sp,
		slots:   make([]bool, cfg.MaxSandboxes),
		ids:     map[string]bool{},
	}, nil
}

// keepKernelPathsOn makes an empty group, frozen and under a CPU quota, kept as long as the
// backend. The kernel switches its freezer's and its CPU bandwidth control's code on when
// the first group is frozen or given a quota, and off when the last is thawed or loses it,
// by patching its own text (static keys): about 8 ms a switch on this project's machines
// (bench/README.md), which a lone sandbox would otherwise pay on every thaw, and a burst-mode
// sandbox on cgroup v2 every time it is held. With this group both stay on. It returns nil,
// having logged why, when the group cannot be made: sandboxes work the same, only slower.
func keepKernelPathsOn(cg cgroups.Manager, logger *slog.Logger) cgroups.Group {
	g, err := cg.Create("anchor", cgroups.Limits{CPUMilli: 10})
	if err == nil {
		if err = g.Freeze(); err != nil {
			_ = g.Delete()
		}
	}
	if err != nil {
		logger.Warn("could not keep a frozen group: freezing and thawing sandboxes will be slower", "err", err)
		return nil
	}
	return g
}

// openInit opens the init program, once: every sandbox runs the file opened here, whatever
// becomes of its path. The sandbox starts it through the descriptor, as a host uid that may
// not be able to reach its directory.
func openInit(p string) (*os.File, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("jail: init program: %w", err)
	}
	fi, err := f.Stat()
	if err == nil {
		err = checkInit(p, fi)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// checkInit makes sure the init program is one only root could have put there: it runs as
// root in every sandbox before the sandbox is locked down.
func checkInit(p string, fi os.FileInfo) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	switch {
	case !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0:
		return fmt.Errorf("jail: init program %s is not an executable file", p)
	case !ok || st.Uid != 0 || fi.Mode().Perm()&0o022 != 0:
		return fmt.Errorf("jail: init program %s must be owned by root and writable by no one else (mode %v)", p, fi.Mode().Perm())
	}
	return nil
}

// checkSearchable makes sure a sandbox's init, which runs as an unprivileged host uid, can
// reach dir.
func checkSearchable(dir string) error {
	for d := dir; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return fmt.Errorf("jail: %w", err)
		}
		if fi.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("jail: %s is not searchable by others (mode %v); sandboxes could not reach %s", d, fi.Mode().Perm(), dir)
		}
		if d == "/" {
			return nil
		}
	}
}

// Name is "jail".
func (b *Backend) Name() string { return "jail" }

// CgroupVersion says which cgroup hierarchy the backend uses (1 or 2).
func (b *Backend) CgroupVersion() int { return b.cg.Version() }

// TmpOnDisk says whether sandboxes' /tmp is on disk (see Config.ScratchDir).
func (b *Backend) TmpOnDisk() bool { return b.tmp != nil }

// Close ends the spawner (and with it any sandbox still alive) and releases the backend's /tmp
// file systems and cgroup manager.
func (b *Backend) Close() error {
	if b.tmp != nil {
		b.tmp.Close()
	}
	b.mu.Lock()
	b.spawner.Close()
	b.mu.Unlock()
	if b.init != nil {
		b.init.Close()
	}
	if b.anchor != nil {
		_ = b.anchor.Delete()
	}
	return b.cg.Close()
}

func (b *Backend) validate(spec *sandbox.Spec) error {
	return cgsandbox.ValidateSpec(spec, ErrInvalidSpec)
}

// theSpawner returns the running spawner, starting another if the last one has ended (its
// sandboxes ended with it).
func (b *Backend) theSpawner() (*spawner, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.spawner.ended(); err != nil {
		b.log.Warn("the sandbox spawner has ended; starting another", "err", err)
		sp, err := startSpawner(b.init)
		if err != nil {
			return nil, err
		}
		b.spawner.Close()
		b.spawner = sp
	}
	return b.spawner, nil
}

// reserve claims the sandbox id and a uid range.
func (b *Backend) reserve(id string) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ids[id] {
		return 0, fmt.Errorf("%w: sandbox %q exists", ErrInvalidSpec, id)
	}
	for i, used := range b.slots {
		if !used {
			b.slots[i] = true
			b.ids[id] = true
			return i, nil
		}
	}
	return 0, fmt.Errorf("jail: all %d sandbox slots are in use", len(b.slots))
}

func (b *Backend) release(id string, slot int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.ids, id)
	b.slots[slot] = false
}

// Create builds a sandbox: namespaces, cgroup, root file system and the Runtime API listener
// inside its network namespace. The runtime waits for Start.
func (b *Backend) Create(ctx context.Context, spec sandbox.Spec) (sandbox.Sandbox, error) {
	if err := b.validate(&spec); err != nil {
		return nil, err
	}
	slot, err := b.reserve(spec.ID)
	if err != nil {
		return nil, err
	}
	s, err := b.create(ctx, spec, slot)
	if err != nil {
		b.release(spec.ID, slot)
		return nil, err
	}
	return s, nil
}
