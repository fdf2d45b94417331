package microvm

import (
	"errors"
	"fmt"
	"path/filepath"
	"time"
)

// ErrUnsupported is returned by New when this host cannot run microVMs: no QEMU, no kernel,
// no agent, not root.
var ErrUnsupported = errors.New("microvm: host cannot run microVM sandboxes")

// ErrInvalidSpec is returned by Create for a Spec the backend cannot honour.
var ErrInvalidSpec = errors.New("microvm: invalid sandbox spec")

// AgentProgram is the file name of cmd/ember-vmagent, the guest's /init, built beside the
// ember binary.
const AgentProgram = "ember-vmagent"

// DefaultMemoryOverheadMB is what a VM gets on top of its function's MemorySize: the guest
// kernel, the agent, the jail's own processes and the page cache of the code and runtime.
const DefaultMemoryOverheadMB = 96

// Config configures the backend.
type Config struct {
	// KernelDir holds the guest kernel: an unpacked linux-image-cloud-amd64 package with its
	// uncompressed image as vmlinux (scripts/setup makes one in .cache/vmtest/kernel).
	KernelDir string
	// AgentPath is the static guest agent (cmd/ember-vmagent).
	AgentPath string
	// StateDir holds a directory per VM (its scratch disk and logs) and the backend's
	// initramfs. It should be on disk: scratch disks are sparse files there.
	StateDir string
	// CacheDir holds the root image (the host programs and interpreters runtimes use) and one
	// function image per code, layers and runtime client; they are made once and kept.
	CacheDir string
	// MemDir holds the VMs' RAM files and the snapshots' memory. It should be memory
	// (tmpfs). Defaults to /dev/shm.
	MemDir string
	// QEMU is the emulator. Defaults to qemu-system-x86_64 on PATH.
	QEMU string
	// Accel is "kvm", "tcg" or "auto" (the default): KVM when /dev/kvm exists and a VM boots
	// with it, otherwise TCG (software emulation, slow but everywhere).
	Accel string
	// TCGCacheMB bounds the translated-code cache of a VM under TCG (QEMU's tb-size), which
	// counts in each VM's memory. Zero keeps QEMU's default.
	TCGCacheMB int
	// CPUs is the number of vCPUs per VM. Defaults to 1.
	CPUs int
	// MemoryOverheadMB is added to each function's MemorySize for its VM. Defaults to
	// DefaultMemoryOverheadMB.
	MemoryOverheadMB int
	// BootTimeout bounds a boot or restore until the agent answers. Defaults to 2 minutes
	// (under TCG on a loaded host a boot can take many seconds).
	BootTimeout time.Duration
	// GuestTools are host programs (by name on PATH, or paths) that go into the root image
	// with the libraries they load, for custom bootstrap scripts. Defaults to DefaultGuestTools.
	GuestTools []string
	// RuntimeDirs maps a Lambda runtime identifier to the host directory of its client, which
	// the guest mounts at /var/runtime.
	RuntimeDirs map[string]string
	// RuntimeHostPaths maps a runtime identifier to the host files its interpreter needs;
	// they go into the root image, and the guest's jail shares exactly them with a sandbox of
	// that runtime (jail.Config.RuntimeHostPaths).
	RuntimeHostPaths map[string][]string
}

// DefaultGuestTools are the programs of a guest's root image: a shell and the tools custom
// bootstrap scripts commonly run, and mkfs.ext4, which the jail in the guest makes /tmp with.
var DefaultGuestTools = []string{
	"sh", "dash", "bash", "cat", "ls", "id", "hostname", "grep", "touch", "sleep", "true", "false",
	"echo", "env", "stat", "wc", "dd", "rm", "mkdir", "rmdir", "cp", "mv", "ln", "head", "tail",
	"tr", "cut", "sed", "sort", "df", "du", "uname", "readlink", "chmod", "kill", "seq", "tee",
	"printf", "test", "timeout", "sync", "base64", "od", "mkfs.ext4", "mke2fs",
}

func (c *Config) defaults() {
	if c.MemDir == "" {
		c.MemDir = "/dev/shm"
	}
	if c.QEMU == "" {
		c.QEMU = "qemu-system-x86_64"
	}
	if c.Accel == "" {
		c.Accel = "auto"
	}
	if c.CPUs == 0 {
		c.CPUs = 1
	}
	if c.MemoryOverheadMB == 0 {
		c.MemoryOverheadMB = DefaultMemoryOverheadMB
	}
	if c.BootTimeout == 0 {
		c.BootTimeout = 2 * time.Minute
	}
	if c.GuestTools == nil {
		c.GuestTools = DefaultGuestTools
	}
}

// Validate checks a Config after defaults.
func (c Config) Validate() error {
	for name, p := range map[string]string{"kernel dir": c.KernelDir, "agent path": c.AgentPath, "state dir": c.StateDir, "cache dir": c.CacheDir, "memory dir": c.MemDir} {
		if !filepath.IsAbs(p) {
			return fmt.Errorf("microvm: %s %q is not an absolute path", name, p)
		}
	}
	switch c.Accel {
	case "auto", "kvm", "tcg":
	default:
		return fmt.Errorf("microvm: accel %q: want auto, kvm or tcg", c.Accel)
	}
	if c.CPUs < 1 || c.CPUs > 16 {
		return fmt.Errorf("microvm: %d vCPUs: want 1 to 16", c.CPUs)
	}
	if c.MemoryOverheadMB < 48 {
		return fmt.Errorf("microvm: memory overhead %d MB: the guest needs at least 48", c.MemoryOverheadMB)
	}
	return nil
}
