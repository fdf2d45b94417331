//go:build linux

package microvm

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"github.com/ember-serverless/ember/internal/sandbox"
	"github.com/ember-serverless/ember/internal/sandbox/cgsandbox"
	"github.com/ember-serverless/ember/internal/sandbox/microvm/wire"
	"github.com/ember-serverless/ember/internal/sandbox/vmimage"
)

// Backend is the microVM isolation backend: one QEMU microvm per sandbox.
type Backend struct {
	cfg     Config
	log     *slog.Logger
	kernel  *vmimage.Kernel
	initrd  string
	rootImg string
	tscKHz  int

	imageMu sync.Mutex // one function image made at a time
	ids     cgsandbox.IDs

	mu        sync.Mutex
	accel     string               // "kvm" or "tcg"; "auto" until a boot has told
	snapshots map[string]*snapshot // by Spec.SnapshotKey
}

var (
	_ sandbox.Backend = (*Backend)(nil)
	_ sandbox.Closer  = (*Backend)(nil)
)

// New checks that this host can run microVMs (QEMU, the kernel, the agent, mkfs.ext4), makes
// the guest's initramfs and root image, and returns a backend.
func New(cfg Config, logger *slog.Logger) (*Backend, error) {
	cfg.defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	qemu, err := exec.LookPath(cfg.QEMU)
	if err != nil {
		return nil, fmt.Errorf("%w: %s (Debian package qemu-system-x86): %v", ErrUnsupported, cfg.QEMU, err)
	}
	cfg.QEMU = qemu
	if _, err := exec.LookPath("mkfs.ext4"); err != nil {
		return nil, fmt.Errorf("%w: mkfs.ext4 (Debian package e2fsprogs): %v", ErrUnsupported, err)
	}
	kernel, err := vmimage.FindKernel(cfg.KernelDir)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnsupported, err)
	}
	if fi, err := os.Stat(cfg.AgentPath); err != nil || !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: the guest agent %s (build ./cmd/%s statically beside the server): %v", ErrUnsupported, cfg.AgentPath, AgentProgram, err)
	}
	if cfg.Accel == "kvm" {
		if _, err := os.Stat("/dev/kvm"); err != nil {
			return nil, fmt.Errorf("%w: accel kvm: %v", ErrUnsupported, err)
		}
	}
	khz, err := vmimage.TSCKHz()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnsupported, err)
	}
	for _, d := range []string{cfg.StateDir, cfg.CacheDir, cfg.MemDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("microvm: %w", err)
		}
	}
	b := &Backend{cfg: cfg, log: logger, kernel: kernel, tscKHz: khz, accel: cfg.Accel, snapshots: map[string]*snapshot{}}
	if b.accel == "auto" {
		if _, err := os.Stat("/dev/kvm"); err != nil {
			b.accel = "tcg"
		}
	}
	sum, err := fileSum(cfg.AgentPath)
	if err != nil {
		return nil, fmt.Errorf("microvm: %w", err)
	}
	b.initrd = filepath.Join(cfg.StateDir, "initramfs-"+sum[:16]+".cpio")
	if _, err := os.Stat(b.initrd); err != nil {
		if err := writeInitramfs(kernel, cfg.AgentPath, b.initrd+".tmp"); err != nil {
			return nil, fmt.Errorf("microvm: initramfs: %w", err)
		}
		if err := os.Rename(b.initrd+".tmp", b.initrd); err != nil {
			return nil, fmt.Errorf("microvm: %w", err)
		}
	}
	start := time.Now()
	if b.rootImg, err = b.rootImage(); err != nil {
		return nil, err
	}
	logger.Info("microvm backend ready", "accel", b.accel, "kernel", kernel.Release, "root_image", b.rootImg,
		"memory_overhead_mb", cfg.MemoryOverheadMB, "took", time.Since(start).Round(time.Millisecond))
	return b, nil
}

func fileSum(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Name is "microvm".
func (b *Backend) Name() string { return "microvm" }

// Accel is how VMs run: "kvm", "tcg", or "auto" until the first boot has decided.
func (b *Backend) Accel() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.accel
}

// MemoryOverheadMB is what each VM gets beyond its function's MemorySize.
func (b *Backend) MemoryOverheadMB() int { return b.cfg.MemoryOverheadMB }

// Close removes the snapshots. Each sandbox's Destroy ends its own VM.
func (b *Backend) Close() error {
	b.dropSnapshots()
	return nil
}

// Create boots a VM for the sandbox and builds the sandbox's jail inside it. The runtime waits
// for Start.
func (b *Backend) Create(ctx context.Context, spec sandbox.Spec) (sandbox.Sandbox, error) {
	if err := cgsandbox.ValidateSpec(&spec, ErrInvalidSpec); err != nil {
		return nil, err
	}
	if len(spec.Extensions) > 0 {
		return nil, fmt.Errorf("%w: external extensions are not supported in microVMs yet", ErrInvalidSpec)
	}
	if err := b.ids.Reserve(spec.ID, ErrInvalidSpec); err != nil {
		return nil, err
	}
	var s *vmSandbox
	var err error
	if snap := b.snapshotOf(spec.SnapshotKey); snap != nil {
		s, err = b.restore(ctx, spec, snap)
	} else {
		s, err = b.create(ctx, spec)
	}
	if err != nil {
		b.ids.Release(spec.ID)
		return nil, err
	}
	return s, nil
}

func (b *Backend) create(ctx context.Context, spec sandbox.Spec) (*vmSandbox, error) {
	fn, err := b.fnImage(spec.CodeDir, spec.LayerDirs, b.cfg.RuntimeDirs[spec.Runtime])
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(b.cfg.StateDir, "vm-"+spec.ID)
	if err := os.Mkdir(dir, 0o700); err != nil {
		return nil, fmt.Errorf("microvm: %w", err)
	}
	s := newSandbox(b, spec, dir)
	s.memoryMB, s.fnImg = spec.MemoryMB+b.cfg.MemoryOverheadMB, fn
	ok := false
	defer func() {
		if !ok {
			s.cleanup()
		}
	}()
	scratch := filepath.Join(dir, "scratch.ext4")
	s.scratch = scratch
	if err := makeScratch(scratch, spec.EphemeralStorageMB); err != nil {
		return nil, fmt.Errorf("microvm: %w", err)
	}
	m := machine{
		dir:       dir,
		memoryMB:  s.memoryMB,
		memFile:   s.memFile,
		memShared: true,
		rootImg:   b.rootImg,
		fnImg:     fn,
		scratch:   scratch,
	}
	if err := s.boot(ctx, m); err != nil {
		return nil, err
	}
	c := wire.Create{
		ID:                 spec.ID,
		Runtime:            spec.Runtime,
		Command:            spec.Command,
		Env:                spec.Env,
		MemoryMB:           spec.MemoryMB,
		EphemeralStorageMB: spec.EphemeralStorageMB,
		Layers:             len(spec.LayerDirs),
		RuntimeDir:         b.cfg.RuntimeDirs[spec.Runtime] != "",
		RuntimeHostPaths:   b.cfg.RuntimeHostPaths[spec.Runtime],
	}
	if _, err := s.call(ctx, wire.Request{Op: wire.OpCreate, Create: &c}); err != nil {
		return nil, fmt.Errorf("%w%s", err, qemuLog(dir))
	}
	ok = true
	return s, nil
}

// bootVM starts QEMU and waits for the agent, deciding the accelerator on the first boot when
// it is "auto": KVM if the agent answers under it, else TCG from then on.
func (b *Backend) bootVM(ctx context.Context, m machine) (*vm, *ctlClient, error) {
	b.mu.Lock()
	accel := b.accel
	b.mu.Unlock()
	if accel == "auto" {
		v, c, err := b.bootWith(ctx, m, "kvm", 30*time.Second)
		b.mu.Lock()
		defer b.mu.Unlock()
		if err == nil {
			b.accel = "kvm"
			return v, c, nil
		}
		b.log.Warn("microVMs do not boot under KVM here; they run under TCG (software emulation)", "err", err)
		b.accel = "tcg"
		accel = "tcg"
	}
	return b.bootWith(ctx, m, accel, b.cfg.BootTimeout)
}

func (b *Backend) bootWith(ctx context.Context, m machine, accel string, timeout time.Duration) (*vm, *ctlClient, error) {
	m.accel = accel
	v, err := b.start(m)
	if err != nil {
		return nil, nil, err
	}
	c := newCtl(v.ctl)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if m.incoming {
		return v, c, nil // the agent is already up in the snapshot: it answers after restore
	}
	select {
	case <-c.ready:
		return v, c, nil
	case <-v.exited:
		err = errors.New("QEMU exited before the guest's agent answered")
	case <-ctx.Done():
		err = fmt.Errorf("the guest's agent did not answer: %w", ctx.Err())
	}
	v.kill()
	return nil, nil, fmt.Errorf("microvm: boot: %w%s", err, qemuLog(m.dir))
}
