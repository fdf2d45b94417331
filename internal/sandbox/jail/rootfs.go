//go:build linux

package jail

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// buildRoot assembles the sandbox's root on a fresh tmpfs inside the init's private mount
// namespace, pivots into it and makes it read-only. Nothing here is visible on the host.
//
//	/usr /bin /lib ...  host directories, read-only, nosuid, nodev (Config.HostDirs)
//	/etc                generated passwd, group, hosts, ... plus the host's ld.so.cache
//	/dev                null zero random urandom full, fd and std* links
//	/proc               this pid namespace's; /proc/sys read-only
//	/tmp                private, EphemeralStorage in size: an ext4 file system on disk made by
//	                    the server (Config.ScratchDir), or a tmpfs where that cannot be
//	/var/task           the code, read-only
//	/opt                the layers, read-only (overlaid in order when more than one)
//	/var/runtime        the managed runtime's files, read-only, when configured
func buildRoot(cfg *initConfig) error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make mounts private: %w", err)
	}
	root := cfg.Root
	if err := unix.Mount("tmpfs", root, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "size=1m,mode=0755"); err != nil {
		return fmt.Errorf("root tmpfs: %w", err)
	}
	in := func(p string) string { return filepath.Join(root, p) }

	for _, d := range cfg.HostDirs {
		if d.Link != "" {
			if err := mkdirAll(filepath.Dir(in(d.Path))); err != nil {
				return err
			}
			if err := os.Symlink(d.Link, in(d.Path)); err != nil {
				return err
			}
			continue
		}
		if err := bindRO(d.Path, in(d.Path), true); err != nil {
			return err
		}
	}

	if err := mkdirAll(in("/etc")); err != nil {
		return err
	}
	names := make([]string, 0, len(cfg.Files))
	for n := range cfg.Files {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		if err := os.WriteFile(in("/etc/"+n), []byte(cfg.Files[n]), 0o644); err != nil {
			return err
		}
	}
	for _, f := range cfg.HostFiles {
		if err := bindRO(f, in(f), false); err != nil {
			return err
		}
	}

	if err := mkdirAll(in("/dev")); err != nil {
		return err
	}
	for _, n := range []string{"null", "zero", "random", "urandom", "full"} {
		if err := bindFile("/dev/"+n, in("/dev/"+n)); err != nil {
			return err
		}
		if err := setattr(in("/dev/"+n), unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NOEXEC, false); err != nil {
			return err
		}
	}
	for name, target := range map[string]string{
		"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2",
	} {
		if err := os.Symlink(target, in("/dev/"+name)); err != nil {
			return err
		}
	}

	if err := mkdirAll(in("/proc")); err != nil {
		return err
	}
	if err := unix.Mount("proc", in("/proc"), "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mount /proc: %w", err)
	}
	for _, p := range []string{"/proc/sys", "/proc/sysrq-trigger", "/proc/irq", "/proc/bus"} {
		if _, err := os.Lstat(in(p)); err != nil {
			continue
		}
		if err := unix.Mount(in(p), in(p), "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("bind %s: %w", p, err)
		}
		if err := setattr(in(p), unix.MOUNT_ATTR_RDONLY|unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOEXEC, true); err != nil {
			return err
		}
	}

	if cfg.TmpFD >= 0 {
		if err := attach(cfg.TmpFD, in("/tmp")); err != nil {
			return err
		}
	} else {
		if err := mkdirAll(in("/tmp")); err != nil {
			return err
		}
		if err := unix.Mount("tmpfs", in("/tmp"), "tmpfs", unix.MS_NOSUID|unix.MS_NODEV,
			"mode=1777,size="+strconv.Itoa(cfg.TmpMB)+"m"); err != nil {
			return fmt.Errorf("mount /tmp: %w", err)
		}
	}

	// Code, layers and runtime files come from directories in the server's data dir: each is
	// mounted through an overlay, so that the sandbox's mount table shows none of their host
	// paths (a bind mount shows its source's path within the host file system).
	if err := overlay(root, "/var/task", []int{cfg.CodeFD}); err != nil {
		return err
	}
	if len(cfg.LayerFDs) == 0 {
		if err := mkdirAll(in("/opt")); err != nil {
			return err
		}
	} else if err := overlay(root, "/opt", cfg.LayerFDs); err != nil {
		return err
	}
	if cfg.RuntimeFD >= 0 {
		if err := overlay(root, "/var/runtime", []int{cfg.RuntimeFD}); err != nil {
			return err
		}
	}

	// Swap the host's tree for the new root and drop the host's from this namespace.
	if err := unix.Chdir(root); err != nil {
		return err
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detach host root: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return err
	}
	if err := unix.Mount("", "/", "", unix.MS_REMOUNT|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV, ""); err != nil {
		return fmt.Errorf("make root read-only: %w", err)
	}
	return nil
}

// attach mounts a detached mount tree, passed by the server, at dst.
func attach(fd int, dst string) error {
	if err := mkdirAll(dst); err != nil {
		return err
	}
	if err := unix.MoveMount(fd, "", unix.AT_FDCWD, dst, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("attach %s: %w", dst, err)
	}
	return nil
}

// overlay mounts the detached mount trees fds, read-only and merged in order (later ones over
// earlier ones, the way Lambda extracts layers into /opt; overlayfs lists the top layer first),
// at dst in root. The trees are attached on a staging directory first and detached again once
// the overlay holds them. The overlay is a file system of its own, so the sandbox's mountinfo
// shows its root as "/", not the host path a bind mount would show; its options name the staged
// trees relative to the staging directory (the init works there while mounting), never a host
// path.
func overlay(root, dst string, fds []int) error {
	stage := filepath.Join(root, ".stage")
	if err := mkdirAll(stage); err != nil {
		return err
	}
	var lower, staged []string
	for i, fd := range fds {
		name := strconv.Itoa(i)
		if err := attach(fd, filepath.Join(stage, name)); err != nil {
			return err
		}
		lower = append([]string{name}, lower...)
		staged = append(staged, filepath.Join(stage, name))
	}
	if len(lower) == 1 {
		// A read-only overlay needs two lower layers: the second is an empty file system of
		// its own (a directory of the root's would keep the root from becoming read-only).
		empty := filepath.Join(stage, "empty")
		if err := mkdirAll(empty); err != nil {
			return err
		}
		if err := unix.Mount("tmpfs", empty, "tmpfs", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "size=4k,mode=0755"); err != nil {
			return fmt.Errorf("mount %s: empty layer: %w", dst, err)
		}
		lower = append(lower, "empty")
		staged = append(staged, empty)
	}
	target := filepath.Join(root, dst)
	if err := mkdirAll(target); err != nil {
		return err
	}
	if err := unix.Chdir(stage); err != nil {
		return err
	}
	err := unix.Mount("overlay", target, "overlay", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV,
		"lowerdir="+strings.Join(lower, ":"))
	if cerr := unix.Chdir(root); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("mount %s: %w", dst, err)
	}
	for _, d := range staged {
		if err := unix.Unmount(d, unix.MNT_DETACH); err != nil {
			return fmt.Errorf("detach staged %s: %w", dst, err)
		}
	}
	return os.RemoveAll(stage)
}

func mkdirAll(p string) error {
	if err := os.MkdirAll(p, 0o755); err != nil {
		return fmt.Errorf("mkdir: %w", err)
	}
	return nil
}

// bindRO binds a host directory (or file, when dir is false) read-only, nosuid and nodev.
func bindRO(src, dst string, dir bool) error {
	if dir {
		if err := mkdirAll(dst); err != nil {
			return err
		}
		if err := unix.Mount(src, dst, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("bind %s: %w", src, err)
		}
	} else if err := bindFile(src, dst); err != nil {
		return err
	}
	return setattr(dst, unix.MOUNT_ATTR_RDONLY|unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV, true)
}

func bindFile(src, dst string) error {
	if err := mkdirAll(filepath.Dir(dst)); err != nil {
		return err
	}
	f, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	f.Close()
	if err := unix.Mount(src, dst, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind %s: %w", src, err)
	}
	return nil
}

// setattr sets mount attributes, recursively when asked. Setting (never clearing) is allowed
// on mounts whose flags the user namespace has locked.
func setattr(p string, attr uint64, recursive bool) error {
	flags := uint(0)
	if recursive {
		flags = unix.AT_RECURSIVE
	}
	err := unix.MountSetattr(unix.AT_FDCWD, p, flags, &unix.MountAttr{Attr_set: attr})
	if errors.Is(err, unix.ENOSYS) {
		return fmt.Errorf("mount_setattr on %s: kernel 5.12 or newer is needed: %w", p, err)
	}
	if err != nil {
		return fmt.Errorf("mount_setattr %s: %w", p, err)
	}
	return nil
}
