//go:build linux

package agent

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ember-serverless/ember/internal/sandbox/microvm/wire"
)

// ModulesDir holds the kernel modules the initramfs carries, and ModulesOrder lists their file
// names one a line, dependencies first.
const (
	ModulesDir   = "/modules"
	ModulesOrder = ModulesDir + "/order"
)

// sysroot is where the root image is mounted before it becomes the root.
const sysroot = "/sysroot"

// boot makes the guest's file systems: devtmpfs, the kernel modules, the root image as the
// root (moved over the initramfs, as switch_root does, so that the jail can pivot_root), with
// /proc, /sys, cgroup2, tmpfs /run and /tmp, the function image and the scratch disk.
func boot() error {
	_ = os.MkdirAll("/dev", 0o755)
	if err := unix.Mount("devtmpfs", "/dev", "devtmpfs", unix.MS_NOSUID, ""); err != nil && !errors.Is(err, unix.EBUSY) {
		return fmt.Errorf("mount /dev: %w", err)
	}
	for _, m := range []struct{ src, dir, fstype string }{{"proc", "/proc", "proc"}, {"sysfs", "/sys", "sysfs"}} {
		_ = os.MkdirAll(m.dir, 0o755)
		if err := unix.Mount(m.src, m.dir, m.fstype, unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
			return fmt.Errorf("mount %s: %w", m.dir, err)
		}
	}
	if err := loadModules(); err != nil {
		return err
	}
	root, err := waitDisk(wire.RootDisk)
	if err != nil {
		return err
	}
	_ = os.MkdirAll(sysroot, 0o755)
	if err := unix.Mount(root, sysroot, "ext4", unix.MS_RDONLY|unix.MS_NODEV, "noload"); err != nil {
		return fmt.Errorf("mount the root image %s: %w", root, err)
	}
	for _, d := range []string{"/dev", "/proc", "/sys"} {
		if err := unix.Mount(d, sysroot+d, "", unix.MS_MOVE, ""); err != nil {
			return fmt.Errorf("move %s into the root image: %w", d, err)
		}
	}
	if err := unix.Chdir(sysroot); err != nil {
		return err
	}
	if err := unix.Mount(".", "/", "", unix.MS_MOVE, ""); err != nil {
		return fmt.Errorf("move the root image to /: %w", err)
	}
	if err := unix.Chroot("."); err != nil {
		return err
	}
	if err := unix.Chdir("/"); err != nil {
		return err
	}
	for _, m := range []struct{ src, dir, fstype, data string }{
		{"cgroup2", "/sys/fs/cgroup", "cgroup2", ""},
		{"tmpfs", "/run", "tmpfs", "mode=0755"},
		{"tmpfs", "/tmp", "tmpfs", "mode=1777"},
		{"tmpfs", "/ember", "tmpfs", "mode=0755"},
	} {
		if err := unix.Mount(m.src, m.dir, m.fstype, unix.MS_NOSUID|unix.MS_NODEV, m.data); err != nil {
			return fmt.Errorf("mount %s on %s: %w", m.fstype, m.dir, err)
		}
	}
	for name, target := range map[string]string{
		"/dev/fd": "/proc/self/fd", "/dev/stdin": "/proc/self/fd/0", "/dev/stdout": "/proc/self/fd/1", "/dev/stderr": "/proc/self/fd/2",
	} {
		if err := os.Symlink(target, name); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
	}
	fn, err := waitDisk(wire.FnDisk)
	if err != nil {
		return err
	}
	if err := mountDisk(fn, wire.FnMount, unix.MS_RDONLY|unix.MS_NODEV|unix.MS_NOSUID, "noload"); err != nil {
		return err
	}
	scratch, err := waitDisk(wire.ScratchDisk)
	if err != nil {
		return err
	}
	if err := mountDisk(scratch, wire.ScratchMount, unix.MS_NODEV|unix.MS_NOSUID, ""); err != nil {
		return err
	}
	return os.Chmod(wire.ScratchMount, 0o755)
}

func mountDisk(dev, dir string, flags uintptr, data string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := unix.Mount(dev, dir, "ext4", flags, data); err != nil {
		return fmt.Errorf("mount %s on %s: %w", dev, dir, err)
	}
	return nil
}

func loadModules() error {
	b, err := os.ReadFile(ModulesOrder)
	if err != nil {
		return err
	}
	for _, name := range strings.Fields(string(b)) {
		f, err := os.Open(filepath.Join(ModulesDir, name))
		if err != nil {
			return err
		}
		err = unix.FinitModule(int(f.Fd()), "", 0)
		f.Close()
		if err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("load module %s: %w", name, err)
		}
	}
	return nil
}

// waitDisk finds the virtio disk whose serial is serial, waiting for its driver to probe it.
func waitDisk(serial string) (string, error) {
	deadline := time.Now().Add(60 * time.Second)
	for {
		devs, _ := filepath.Glob("/sys/block/vd*/serial")
		for _, p := range devs {
			if b, err := os.ReadFile(p); err == nil && strings.TrimSpace(string(b)) == serial {
				dev := "/dev/" + filepath.Base(filepath.Dir(p))
				if _, err := os.Stat(dev); err == nil {
					return dev, nil
				}
			}
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("no disk with serial %s appeared", serial)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitPort finds the virtio-serial port named name, waiting for it to appear.
func waitPort(name string) (string, error) {
	deadline := time.Now().Add(60 * time.Second)
	for {
		ports, _ := filepath.Glob("/sys/class/virtio-ports/*/name")
		for _, p := range ports {
			b, err := os.ReadFile(p)
			if err != nil || strings.TrimSpace(string(b)) != name {
				continue
			}
			dev := "/dev/" + filepath.Base(filepath.Dir(p))
			if _, err := os.Stat(dev); err == nil {
				return dev, nil
			}
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("no virtio-serial port named %s appeared", name)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// openConsole opens the serial console for the agent's own messages.
func openConsole() *os.File {
	f, err := os.OpenFile("/dev/ttyS0", os.O_WRONLY|unix.O_NOCTTY, 0)
	if err != nil {
		return os.Stderr
	}
	return f
}

// lineReader reads the control port line by line. Without a host at the other end the port
// reads as end of file; the reader then waits for one (a VM being restored has none for a
// moment).
type lineReader struct {
	f  *os.File
	br *bufio.Reader
}

func (r *lineReader) next() ([]byte, error) {
	var line []byte
	for {
		b, err := r.br.ReadBytes('\n')
		line = append(line, b...)
		switch {
		case err == nil:
			return line, nil
		case errors.Is(err, io.EOF):
			time.Sleep(20 * time.Millisecond) // no host connected yet
		default:
			return nil, err
		}
	}
}
