package gvisor

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"time"

	"github.com/ember-serverless/ember/internal/sandbox"
	"github.com/ember-serverless/ember/internal/sandbox/cgroups"
	"github.com/ember-serverless/ember/internal/sandbox/cgsandbox"
)

// ErrUnsupported is returned by New when this host cannot run gVisor sandboxes: not root, no
// runsc, or no usable cgroups.
var ErrUnsupported = errors.New("gvisor: host cannot run gVisor sandboxes")

// ErrInvalidSpec is returned by Create for a Spec the backend cannot honour.
var ErrInvalidSpec = errors.New("gvisor: invalid sandbox spec")

// The unprivileged user every runtime runs as inside its sandbox (Lambda's sbx_user1051).
const (
	SandboxUID = cgsandbox.SandboxUID
	SandboxGID = cgsandbox.SandboxGID
)

// RuntimeAPIAddr is where a sandbox reaches its Runtime API, on its own loopback.
const RuntimeAPIAddr = "127.0.0.1:9001"

// Config configures the backend. The zero value, after defaults, is what production uses.
type Config struct {
	// Runsc is the runsc binary. Defaults to "runsc" on PATH, else /usr/bin/runsc (Debian's
	// package).
	Runsc string
	// Platform is gVisor's platform: "ptrace" (default; works everywhere) or "systrap" where
	// the installed runsc has it. KVM does not work on this project's hosts.
	Platform string
	// StateDir holds runsc's state, the shared root skeleton and each sandbox's bundle and
	// sockets. Defaults to /run/ember/gvisor.
	StateDir string
	// HostDirs are host paths shared read-only (nosuid, nodev) into every sandbox at the same
	// place; symbolic links are recreated as links. Defaults to /usr, /bin, /lib, /lib64 and
	// /sbin.
	HostDirs []string
	// RuntimeDirs maps a Lambda runtime identifier to a host directory mounted read-only at
	// /var/runtime.
	RuntimeDirs map[string]string
	// LayerDir holds merges of several layers (this runsc has no overlay mounts), made by
	// hard links when it is on the same file system as the layers, by copies otherwise.
	// Defaults to StateDir/layers.
	LayerDir string
	// Cgroups names sandbox groups, which go beside the server in its own groups; the zero
	// value names them "ember-gvisor-<sandbox>".
	Cgroups cgroups.Config
	// ShutdownGrace is how long Destroy waits between SIGTERM and SIGKILL. Defaults to
	// sandbox.DefaultShutdownGrace.
	ShutdownGrace time.Duration
	// MinCPUMilli is the least CPU a sandbox gets, in thousandths of a CPU, whatever its
	// memory buys (1,769 MB is one vCPU, as on Lambda). gVisor's Sentry does the function's
	// kernel work (system calls, page faults) in user space, under ptrace, on the function's
	// CPU; at Lambda's share for small functions (7 % of a CPU at 128 MB) a function that
	// touches memory runs tens of times slower than in the jail (faulting in 128 MB took more
	// than 3 s). Defaults to 250 (a quarter of a CPU, what 443 MB buys); negative: no floor.
	MinCPUMilli int64
	// InitBoost is how long a new sandbox may use a full vCPU (or more, if its memory buys
	// more) before its CPU is cut to its memory's share; EndInitBoost and the first Freeze end
	// it sooner, as in the jail. Defaults to 10s; negative disables the boost.
	InitBoost time.Duration
	// Hostname is the sandbox's host name. Defaults to "localhost".
	Hostname string
	// DebugLogDir, when set, makes runsc write its debug logs there (runsc --debug
	// --debug-log=DIR/): what to look at when a sandbox dies inside gVisor.
	DebugLogDir string
	// Executable is the binary bound into every sandbox as its first process; it must call
	// MaybeRunShim first thing. Defaults to this process's own executable.
	Executable string
}

func (c *Config) defaults() {
	if c.Platform == "" {
		c.Platform = "ptrace"
	}
	if c.StateDir == "" {
		c.StateDir = "/run/ember/gvisor"
	}
	if c.LayerDir == "" {
		c.LayerDir = filepath.Join(c.StateDir, "layers")
	}
	if c.HostDirs == nil {
		c.HostDirs = slices.Clone(cgsandbox.DefaultHostDirs)
	}
	if c.Cgroups.Prefix == "" {
		c.Cgroups.Prefix = "ember-gvisor"
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
	if c.MinCPUMilli == 0 {
		c.MinCPUMilli = 250
	}
}

// Validate checks a Config after defaults.
func (c Config) Validate() error {
	if !filepath.IsAbs(c.StateDir) {
		return fmt.Errorf("gvisor: state dir %q is not absolute", c.StateDir)
	}
	switch c.Platform {
	case "ptrace", "systrap":
	default:
		return fmt.Errorf("gvisor: platform %q: choose ptrace or systrap", c.Platform)
	}
	// The sandbox's first process and its sockets are bound at /.ember and /.ember-init.
	if err := cgsandbox.ValidateHostDirs(c.HostDirs, "/.ember", "/.ember-init"); err != nil {
		return fmt.Errorf("gvisor: %w", err)
	}
	return c.Cgroups.Validate()
}
