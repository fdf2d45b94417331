//go:build linux

package vmtest

import (
	"context"
	"fmt"
	"github.com/ember-serverless/ember/internal/gobuild"
	"github.com/ember-serverless/ember/internal/sandbox/vmimage"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// QEMU is the emulator the VM runs under (Debian package qemu-system-x86).
const QEMU = "qemu-system-x86_64"

// VM is one boot of a kernel under QEMU's microvm machine with software emulation (TCG):
// no firmware, no PCI, a serial console, and virtio-mmio devices described by ACPI.
type VM struct {
	Kernel    *vmimage.Kernel
	Initramfs string // cpio archive
	// Disk is a raw image attached as a virtio block device (/dev/vda), or "".
	Disk     string
	MemoryMB int
	CPUs     int
}

// Args is QEMU's command line for the VM.
func (vm VM) Args() ([]string, error) {
	khz, err := vmimage.TSCKHz()
	if err != nil {
		return nil, err
	}
	cmdline := []string{
		"console=ttyS0",
		// Under TCG the TSC cannot be calibrated against the emulated timers; without its
		// rate the kernel hangs early.
		"tsc_early_khz=" + strconv.Itoa(khz),
		"panic=-1", // with -no-reboot: a panic ends QEMU
		"quiet",    // errors still reach the console, OOM kills among them
		"rdinit=/init",
	}
	args := []string{
		"-machine", "microvm",
		"-accel", "tcg",
		"-cpu", "max",
		"-smp", strconv.Itoa(vm.CPUs),
		"-m", strconv.Itoa(vm.MemoryMB),
		"-nodefaults", "-no-user-config", "-nographic", "-no-reboot",
		"-serial", "stdio",
		"-kernel", vm.Kernel.Vmlinux,
		"-initrd", vm.Initramfs,
		"-append", strings.Join(cmdline, " "),
	}
	if vm.Disk != "" {
		args = append(args,
			"-drive", "id=disk,file="+vm.Disk+",format=raw,if=none,cache=unsafe,discard=unmap",
			"-device", "virtio-blk-device,drive=disk")
	}
	return args, nil
}

// Run boots the VM and copies its serial console to console until it powers off. A context
// that ends first kills QEMU.
func (vm VM) Run(ctx context.Context, console io.Writer) error {
	args, err := vm.Args()
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, QEMU, args...)
	cmd.Stdout, cmd.Stderr = console, console
	cmd.WaitDelay = 5 * time.Second
	// A test binary that dies (its -timeout) takes the VM with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return fmt.Errorf("vmtest: %s: %w", QEMU, err)
	}
	return nil
}

// KernelEnv names a directory holding an unpacked kernel package and its uncompressed image
// (vmlinux); without it the VM boots the one scripts/setup unpacks into .cache/vmtest/kernel.
const KernelEnv = "EMBER_VMTEST_KERNEL"

// kernelDir is $EMBER_VMTEST_KERNEL, or else the module's .cache/vmtest/kernel.
func kernelDir() string {
	if dir := os.Getenv(KernelEnv); dir != "" {
		return dir
	}
	return filepath.Join(gobuild.ModuleRoot(), ".cache", "vmtest", "kernel")
}
