package jail

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/ember-serverless/ember/internal/sandbox"
	"github.com/ember-serverless/ember/internal/sandbox/cgroups"
	"github.com/ember-serverless/ember/internal/sandbox/cgsandbox"
)

// InitProgram is the file name of cmd/ember-init, the init program built beside the ember
// binary (see Config.InitPath).
const InitProgram = "ember-init"

// InitBeside is the init program beside the binary bin, or "" when there is none there.
func InitBeside(bin string) string {
	p := filepath.Join(filepath.Dir(bin), InitProgram)
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}

// ErrUnsupported is returned by New when this host cannot run jails: not root, no user
// namespaces, or no usable cgroups.
var ErrUnsupported = errors.New("jail: host cannot run jailed sandboxes")

// ErrInvalidSpec is returned by Create for a Spec the jail cannot honour.
var ErrInvalidSpec = errors.New("jail: invalid sandbox spec")

// The unprivileged user every runtime runs as inside its sandbox (Lambda's sbx_user1051).
const (
	SandboxUID = cgsandbox.SandboxUID
	SandboxGID = cgsandbox.SandboxGID
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
	// InitPath is the program every sandbox's init runs: one whose main calls MaybeRunInit
	// first, such as cmd/ember-init. It must be owned by root and writable by nobody else.
	// Empty: /proc/self/exe, the server's own binary, which works but runs all of its package
	// initialization in every new sandbox.
	InitPath string
	// ScratchDir is a directory on a disk-backed file system that holds the files behind
	// sandboxes' /tmp. They have no names there and vanish with their sandboxes. Defaults to
	// /var/tmp/ember-jail. When /tmp cannot be made on disk here (no loop devices, no ext4,
	// ScratchDir in memory), every sandbox's /tmp is a tmpfs instead, counted against its
	// memory, and New says so in a warning.
	ScratchDir string
	// HostDirs are host paths shared read-only (nosuid, nodev) into every sandbox at the same
	// place, so that custom bootstrap scripts find /bin/sh and libc. Symbolic links are
	// recreated as links. Defaults to /usr, /bin, /lib, /lib64 and /sbin.
	HostDirs []string
	// RuntimeDirs maps a Lambda runtime identifier to a host directory mounted read-only at
	// /var/runtime (managed runtimes' clients live there).
	RuntimeDirs map[string]string
	// RuntimeHostPaths maps a Lambda runtime identifier to exactly the host files and
	// directories its interpreter needs (the interpreter, the libraries it loads, its standard
	// library). A sandbox of such a runtime gets those, read-only at the same paths, instead of
	// HostDirs: nothing else of the host.
	RuntimeHostPaths map[string][]string
	// UIDBase is the first host uid (and gid) of the ranges sandboxes map to; each sandbox gets
	// its own range of 65,536 ids so that no two sandboxes share a host uid. Defaults to
	// 1<<20, well above any ordinary account.
	UIDBase uint32
	// MaxSandboxes bounds the number of sandboxes alive at once (and so the uid ranges).
	// Defaults to 4096.
	MaxSandboxes int
	// Cgroups names sandbox groups, which go beside the server in its own groups; the zero
	// value names them "ember-<sandbox>".
	Cgroups cgroups.Config
	// ShutdownGrace is how long Destroy waits between SIGTERM and SIGKILL. Defaults to
	// sandbox.DefaultShutdownGrace.
	ShutdownGrace time.Duration
	// Hostname is the sandbox's host name. Defaults to "localhost".
	Hostname string
	// InitBoost is how long a new sandbox may use a full vCPU (or more, if its memory buys
	// more) before its CPU is cut to its memory's share; EndInitBoost and the first Freeze end
	// it sooner. Like Lambda's init phase, this keeps cold starts of small functions fast.
	// Defaults to 10s (Lambda's init timeout); negative disables the boost.
	InitBoost time.Duration
	// CPUUnbounded gives sandboxes no CPU bandwidth limit of their own: for a jail inside a
	// microVM, whose vCPUs already bound the one sandbox it holds. Memory and pids limits stay.
	CPUUnbounded bool
	// CPULimit says when a sandbox is held to the CPU share its memory buys: from the
	// first instruction (cgsandbox.CPULimitStrict), or, by default (cgsandbox.CPULimitBurst),
	// only once an init or invocation has used CPUBurst of CPU time, until it ends. Until then the
	// sandbox's processes run in the server's own CPU group (cgroup v1) or under no quota
	// (v2). Idle sandboxes are frozen by the worker, so nothing runs unmetered between
	// invocations for longer than its freeze grace.
	CPULimit cgsandbox.CPULimit
	// CPUBurst is burst mode's threshold. Defaults to cgsandbox.DefaultCPUBurst.
	CPUBurst time.Duration
}

func (c *Config) defaults() {
	if c.StateDir == "" {
		c.StateDir = "/run/ember/jail"
	}
	if c.ScratchDir == "" {
		c.ScratchDir = "/var/tmp/ember-jail"
	}
	if c.HostDirs == nil {
		c.HostDirs = slices.Clone(cgsandbox.DefaultHostDirs)
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
	if c.InitBoost == 0 {
		c.InitBoost = 10 * time.Second
	}
	if c.CPULimit == "" {
		c.CPULimit = cgsandbox.CPULimitBurst
	}
	if c.CPUBurst == 0 {
		c.CPUBurst = cgsandbox.DefaultCPUBurst
	}
}

// Validate checks a Config after defaults.
func (c Config) Validate() error {
	if !filepath.IsAbs(c.StateDir) {
		return fmt.Errorf("jail: state dir %q is not absolute", c.StateDir)
	}
	if c.InitPath != "" && !filepath.IsAbs(c.InitPath) {
		return fmt.Errorf("jail: init path %q is not absolute", c.InitPath)
	}
	if !filepath.IsAbs(c.ScratchDir) {
		return fmt.Errorf("jail: scratch dir %q is not absolute", c.ScratchDir)
	}
	for rt, paths := range c.RuntimeHostPaths {
		for _, p := range paths {
			if !filepath.IsAbs(p) || filepath.Clean(p) != p || p == "/" {
				return fmt.Errorf("jail: %s host path %q must be a clean absolute path other than /", rt, p)
			}
			for _, own := range []string{"/proc", "/dev", "/tmp", "/etc", "/var", "/opt", "/sys"} {
				if p == own || strings.HasPrefix(p, own+"/") {
					return fmt.Errorf("jail: %s host path %q would shadow the sandbox's own %s", rt, p, own)
				}
			}
		}
	}
	if err := cgsandbox.ValidateHostDirs(c.HostDirs); err != nil {
		return fmt.Errorf("jail: %w", err)
	}
	if uint64(c.UIDBase)+uint64(c.MaxSandboxes)*idSpan > 1<<32-2 {
		return fmt.Errorf("jail: uid base %d leaves no room for %d sandboxes", c.UIDBase, c.MaxSandboxes)
	}
	if c.MaxSandboxes < 1 {
		return fmt.Errorf("jail: max sandboxes %d", c.MaxSandboxes)
	}
	if err := c.CPULimit.Validate(); err != nil {
		return fmt.Errorf("jail: %w", err)
	}
	if c.CPUBurst < 0 {
		return fmt.Errorf("jail: CPU burst %s is negative", c.CPUBurst)
	}
	return c.Cgroups.Validate()
}
