//go:build linux

package jail

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"time"

	"github.com/ember-serverless/ember/internal/sandbox"
	"github.com/ember-serverless/ember/internal/sandbox/cgroups"
)

// ErrUnsupported is returned by New when this host cannot run jails: not root, no user
// namespaces, or no usable cgroups.
var ErrUnsupported = errors.New("jail: host cannot run jailed sandboxes")

// ErrInvalidSpec is returned by Create for a Spec the jail cannot honour.
var ErrInvalidSpec = errors.New("jail: invalid sandbox spec")

// The unprivileged user every runtime runs as inside its sandbox (Lambda's sbx_user1051).
const (
	SandboxUID = 993
	SandboxGID = 990
)

// RuntimeAPIAddr is where a sandbox reaches its Runtime API, on its own loopback.
const RuntimeAPIAddr = "127.0.0.1:9001"

// idSpan is the number of ids mapped into each sandbox's user namespace.
const idSpan = 65536

// Config configures the backend. The zero value, after defaults, is what production uses.
type Config struct {
	// StateDir holds the empty directory every sandbox mounts its private root on (inside its
	// own mount namespace, so nothing appears on the host). Every component of its path must be
	// searchable by others. Defaults to /run/ember/jail.
	StateDir string
	// HostDirs are host paths shared read-only (nosuid, nodev) into every sandbox at the same
	// place, so that custom bootstrap scripts find /bin/sh and libc. Symbolic links are
	// recreated as links. Defaults to /usr, /bin, /lib, /lib64 and /sbin.
	HostDirs []string
	// RuntimeDirs maps a Lambda runtime identifier to a host directory mounted read-only at
	// /var/runtime (managed runtimes' clients live there).
	RuntimeDirs map[string]string
	// UIDBase is the first host uid (and gid) of the ranges sandboxes map to; each sandbox gets
	// its own range of 65,536 ids so that no two sandboxes share a host uid. Defaults to
	// 1<<20, well above any ordinary account.
	UIDBase uint32
	// MaxSandboxes bounds the number of sandboxes alive at once (and so the uid ranges).
	// Defaults to 4096.
	MaxSandboxes int
	// Cgroups places sandbox groups; the zero value puts them in "ember" below the server's
	// own groups.
	Cgroups cgroups.Config
	// ShutdownGrace is how long Destroy waits between SIGTERM and SIGKILL. Defaults to
	// sandbox.DefaultShutdownGrace.
	ShutdownGrace time.Duration
	// Hostname is the sandbox's host name. Defaults to "localhost".
	Hostname string
}

func (c *Config) defaults() {
	if c.StateDir == "" {
		c.StateDir = "/run/ember/jail"
	}
	if c.HostDirs == nil {
		c.HostDirs = []string{"/usr", "/bin", "/lib", "/lib64", "/sbin"}
	}
	if c.UIDBase == 0 {
		c.UIDBase = 1 << 20
	}
	if c.MaxSandboxes == 0 {
		c.MaxSandboxes = 4096
	}
	if c.ShutdownGrace == 0 {
		c.ShutdownGrace = sandbox.DefaultShutdownGrace
	}
	if c.Hostname == "" {
		c.Hostname = "localhost"
	}
}

// Validate checks a Config after defaults.
func (c Config) Validate() error {
	if !filepath.IsAbs(c.StateDir) {
		return fmt.Errorf("jail: state dir %q is not absolute", c.StateDir)
	}
	for _, d := range c.HostDirs {
		if !filepath.IsAbs(d) || filepath.Clean(d) != d || d == "/" {
			return fmt.Errorf("jail: host dir %q must be a clean absolute path other than /", d)
		}
		switch d {
		case "/proc", "/dev", "/tmp", "/etc", "/var", "/var/task", "/opt", "/sys":
			return fmt.Errorf("jail: host dir %q would shadow the sandbox's own", d)
		}
	}
	if uint64(c.UIDBase)+uint64(c.MaxSandboxes)*idSpan > 1<<32-2 {
		return fmt.Errorf("jail: uid base %d leaves no room for %d sandboxes", c.UIDBase, c.MaxSandboxes)
	}
	if c.MaxSandboxes < 1 {
		return fmt.Errorf("jail: max sandboxes %d", c.MaxSandboxes)
	}
	return c.Cgroups.Validate()
}

// Backend is the jail isolation backend.
type Backend struct {
	cfg     Config
	log     *slog.Logger
	cg      cgroups.Manager
	rootDir string // the shared, empty mount point of every sandbox's root

	mu    sync.Mutex
	slots []bool // uid ranges in use
	ids   map[string]bool
}

var _ sandbox.Backend = (*Backend)(nil)

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
	rootDir := filepath.Join(cfg.StateDir, "root")
	if err := os.MkdirAll(rootDir, 0o755); err != nil {
		cg.Close()
		return nil, fmt.Errorf("jail: %w", err)
	}
	if err := checkSearchable(rootDir); err != nil {
		cg.Close()
		return nil, err
	}
	logger.Info("jail backend ready", "cgroup_version", cg.Version(), "state_dir", cfg.StateDir)
	return &Backend{
		cfg:     cfg,
		log:     logger,
		cg:      cg,
		rootDir: rootDir,
		slots:   make([]bool, cfg.MaxSandboxes),
		ids:     map[string]bool{},
	}, nil
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

// Close releases the backend's parent cgroup if no sandbox is left in it.
func (b *Backend) Close() error { return b.cg.Close() }

var validID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

func (b *Backend) validate(spec *sandbox.Spec) error {
	if !validID.MatchString(spec.ID) {
		return fmt.Errorf("%w: id %q must be 1-128 letters, digits, '.', '_' or '-'", ErrInvalidSpec, spec.ID)
	}
	if len(spec.Command) == 0 {
		return fmt.Errorf("%w: no command", ErrInvalidSpec)
	}
	if spec.MemoryMB <= 0 {
		return fmt.Errorf("%w: memory %d MB", ErrInvalidSpec, spec.MemoryMB)
	}
	if spec.EphemeralStorageMB <= 0 {
		spec.EphemeralStorageMB = 512
	}
	if spec.Output == nil {
		return fmt.Errorf("%w: no output file", ErrInvalidSpec)
	}
	fi, err := os.Stat(spec.CodeDir)
	if err != nil || !fi.IsDir() {
		return fmt.Errorf("%w: code dir %q is not a directory", ErrInvalidSpec, spec.CodeDir)
	}
	return nil
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
