//go:build linux

// Command guestinit is the /init of the VM that package vmtest boots. It moves the initramfs
// onto a tmpfs root (pivot_root, which every jail does, refuses the initramfs's own root),
// mounts /proc, /sys, /dev and cgroup2 on /sys/fs/cgroup, loads the kernel modules it is
// given, makes a disk-backed /tmp, runs the test binaries of its plan one after the other with
// their output on the serial console, and powers the VM off.
//
// Until a run with a Group, it leaves the cgroup hierarchy as a systemd-less host boots with
// it: every process in the root group and no controller enabled below it. Enabling what the
// sandboxes need is the cgroups package's own job. A run with a Group starts in a group of
// its own instead, made as systemd makes a service's with Delegate=yes (and cgroup2 is
// remounted with nsdelegate, as systemd mounts it); with Namespace, in a cgroup namespace
// rooted there too, as a container starts: for that the init re-executes itself (enterArg) to
// mount cgroup2 afresh in the run's mount namespace before it executes the test binary.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ember-serverless/ember/internal/sandbox/loopback"
	"github.com/ember-serverless/ember/internal/sandbox/vmtest"
)

// cgroupRoot is where cgroup2 is mounted.
const cgroupRoot = "/sys/fs/cgroup"

// delegated are the controllers enabled down to a run's group, as systemd enables them for a
// unit with Delegate=yes: what the cgroups package needs below the server's own group.
const delegated = "+memory +cpu +pids"

// enterArg, as the first argument, makes the init the first program of a run in a cgroup
// namespace: it mounts cgroup2 on cgroupRoot and executes the rest of its arguments.
const enterArg = "-vmtest-enter"

func main() {
	if len(os.Args) > 1 && os.Args[1] == enterArg {
		err := enter(os.Args[2:])
		fmt.Fprintf(os.Stderr, "guestinit %s: %v\n", enterArg, err)
		os.Exit(125)
	}
	if os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "guestinit is the /init of package vmtest's VM; it powers the machine off when done")
		os.Exit(2)
	}
	console := openConsole()
	if err := run(console); err != nil {
		fmt.Fprintln(console, vmtest.ErrorLine(err))
	}
	unix.Sync()
	if err := unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF); err != nil {
		fmt.Fprintln(console, vmtest.ErrorLine(fmt.Errorf("power off: %w", err)))
	}
	select {}
}

// openConsole mounts devtmpfs (the initramfs has no device nodes) and opens the serial port.
func openConsole() *os.File {
	_ = os.MkdirAll("/dev", 0o755)
	_ = unix.Mount("devtmpfs", "/dev", "devtmpfs", 0, "")
	f, err := os.OpenFile("/dev/ttyS0", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return os.Stdout
	}
	_ = unix.Dup2(int(f.Fd()), 1)
	_ = unix.Dup2(int(f.Fd()), 2)
	return f
}

func run(console *os.File) error {
	if err := switchRoot(); err != nil {
		return fmt.Errorf("switch root: %w", err)
	}
	if err := mountSystem(); err != nil {
		return err
	}
	b, err := os.ReadFile(vmtest.PlanPath)
	if err != nil {
		return err
	}
	var plan vmtest.Plan
	if err := json.Unmarshal(b, &plan); err != nil {
		return fmt.Errorf("%s: %w", vmtest.PlanPath, err)
	}
	// The init's own environment too: exec finds programs on its PATH.
	os.Clearenv()
	for _, kv := range plan.Env {
		k, v, _ := strings.Cut(kv, "=")
		os.Setenv(k, v)
	}
	for _, m := range plan.Modules {
		if err := loadModule(m); err != nil {
			return err
		}
	}
	if plan.Disk != "" {
		if err := mountDisk(plan.Disk); err != nil {
			return err
		}
	}
	if err := loopback.Up(); err != nil {
		return err
	}
	if err := unix.Sethostname([]byte("vmtest")); err != nil {
		return err
	}
	facts(console)
	for _, r := range plan.Runs {
		fmt.Fprintln(console, vmtest.RunLine(r.Name))
		code, err := runTest(r, plan.Env, console)
		if err != nil {
			fmt.Fprintln(console, vmtest.ErrorLine(fmt.Errorf("%s: %w", r.Name, err)))
		}
		fmt.Fprintln(console, vmtest.ExitLine(r.Name, code))
		if r.Group != "" {
			if err := leaveGroup(r, console); err != nil {
				fmt.Fprintln(console, vmtest.ErrorLine(fmt.Errorf("%s: %w", r.Name, err)))
			}
		}
	}
	fmt.Fprintln(console, vmtest.DoneLine())
	return nil
}

// switchRoot copies the initramfs onto a tmpfs and makes that the root, as switch_root does.
func switchRoot() error {
	const newRoot = "/newroot"
	if err := os.Mkdir(newRoot, 0o755); err != nil {
		return err
	}
	if err := unix.Mount("tmpfs", newRoot, "tmpfs", 0, "mode=0755"); err != nil {
		return err
	}
	err := filepath.WalkDir("/", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch p {
		case "/":
			return nil
		case newRoot:
			return fs.SkipDir
		case "/dev", "/proc", "/sys":
			if err := os.Mkdir(newRoot+p, 0o755); err != nil {
				return err
			}
			return fs.SkipDir
		}
		return copyEntry(p, newRoot+p, d)
	})
	if err != nil {
		return err
	}
	if err := unix.Chdir(newRoot); err != nil {
		return err
	}
	if err := unix.Mount(".", "/", "", unix.MS_MOVE, ""); err != nil {
		return fmt.Errorf("move the new root: %w", err)
	}
	if err := unix.Chroot("."); err != nil {
		return err
	}
	return unix.Chdir("/")
}

func copyEntry(src, dst string, d fs.DirEntry) error {
	fi, err := d.Info()
	if err != nil {
		return err
	}
	mode := fi.Mode()
	switch {
	case mode.IsDir():
		if err := os.Mkdir(dst, 0o755); err != nil {
			return err
		}
		return os.Chmod(dst, mode&(fs.ModePerm|fs.ModeSticky|fs.ModeSetgid))
	case mode&fs.ModeSymlink != 0:
		target, err := os.Readlink(src)
		if err != nil {
			return err
		}
		return os.Symlink(target, dst)
	case mode.IsRegular():
		in, err := os.Open(src)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		if err := out.Close(); err != nil {
			return err
		}
		// Free the initramfs's copy: it is memory, and nothing sees it after the switch.
		_ = os.Remove(src)
		return os.Chmod(dst, mode&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky))
	}
	return nil
}

func mountSystem() error {
	for _, m := range []struct{ src, dir, fstype, data string }{
		{"proc", "/proc", "proc", ""},
		{"sysfs", "/sys", "sysfs", ""},
		{"devtmpfs", "/dev", "devtmpfs", ""},
		// As a systemd-less host mounts it, without nsdelegate or other options.
		{"cgroup2", cgroupRoot, "cgroup2", ""},
		{"tmpfs", "/run", "tmpfs", "mode=0755"},
	} {
		if err := os.MkdirAll(m.dir, 0o755); err != nil {
			return err
		}
		if err := unix.Mount(m.src, m.dir, m.fstype, unix.MS_NOSUID, m.data); err != nil {
			return fmt.Errorf("mount %s on %s: %w", m.fstype, m.dir, err)
		}
	}
	// What udev or an init script adds to devtmpfs on every host (mkfs.ext4 /dev/fd/3, ...).
	for name, target := range map[string]string{
		"/dev/fd": "/proc/self/fd", "/dev/stdin": "/proc/self/fd/0", "/dev/stdout": "/proc/self/fd/1", "/dev/stderr": "/proc/self/fd/2",
	} {
		if err := os.Symlink(target, name); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
	}
	return os.MkdirAll("/tmp", 0o1777)
}

func loadModule(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.FinitModule(int(f.Fd()), "", 0); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("load %s: %w", filepath.Base(path), err)
	}
	return nil
}

// mountDisk formats dev as ext4 and mounts it on /tmp (world-writable and sticky).
func mountDisk(dev string) error {
	// The block device appears once its driver has probed it, after the module loaded.
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(dev); err == nil {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not appear", dev)
		}
		time.Sleep(10 * time.Millisecond)
	}
	mkfs := exec.Command("mkfs.ext4", "-q", "-F", "-E", "lazy_itable_init=1,lazy_journal_init=1", dev)
	if out, err := mkfs.CombinedOutput(); err != nil {
		return fmt.Errorf("mkfs.ext4 %s: %w: %s", dev, err, out)
	}
	if err := unix.Mount(dev, "/tmp", "ext4", unix.MS_NOSUID|unix.MS_NODEV, ""); err != nil {
		return fmt.Errorf("mount %s on /tmp: %w", dev, err)
	}
	return os.Chmod("/tmp", 0o777|fs.ModeSticky)
}

// facts reports what the tests run on.
func facts(console io.Writer) {
	var u unix.Utsname
	_ = unix.Uname(&u)
	fmt.Fprintf(console, "%skernel %s\n", vmtest.Marker, unix.ByteSliceToString(u.Release[:]))
	for _, f := range []string{cgroupRoot + "/cgroup.controllers", cgroupRoot + "/cgroup.subtree_control", "/proc/self/cgroup"} {
		b, _ := os.ReadFile(f)
		fmt.Fprintf(console, "%s%s: %s\n", vmtest.Marker, f, strings.TrimSpace(string(b)))
	}
}

// runTest runs one test binary and returns its exit code. As pid 1 the init also reaps
// whatever else ends up as its child while it waits (orphans of the tests).
func runTest(r vmtest.Run, env []string, console *os.File) (int, error) {
	if err := os.MkdirAll(r.Dir, 0o755); err != nil {
		return -1, err
	}
	cmd := exec.Command(r.Path, r.Args...)
	if r.Namespace {
		cmd = exec.Command("/init", append([]string{enterArg, r.Path}, r.Args...)...)
	}
	cmd.Dir, cmd.Env = r.Dir, env
	cmd.Stdout, cmd.Stderr = console, console
	if r.Group != "" {
		dir, err := makeGroup(r.Group)
		if err != nil {
			return -1, err
		}
		fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return -1, err
		}
		defer unix.Close(fd)
		// clone3's CLONE_INTO_CGROUP: the binary never runs in the init's group.
		cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
		if r.Namespace {
			// Unshared in the child, after the clone: the namespace's root is the group.
			cmd.SysProcAttr.Unshareflags = unix.CLONE_NEWCGROUP | unix.CLONE_NEWNS
		}
	}
	if err := cmd.Start(); err != nil {
		return -1, err
	}
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, 0, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return -1, err
		}
		if pid != cmd.Process.Pid {
			continue
		}
		switch {
		case ws.Exited():
			return ws.ExitStatus(), nil
		case ws.Signaled():
			return 128 + int(ws.Signal()), nil
		}
		return -1, fmt.Errorf("wait status %#x", uint32(ws))
	}
}

// makeGroup makes a run's group below cgroupRoot with the controllers enabled down to it, as
// systemd does for a service with Delegate=yes, and returns its directory. The group itself
// must be new, as a service's is each time it starts: the cgroups package finds it holding
// the binary and no controllers enabled below it.
func makeGroup(group string) (string, error) {
	// And as systemd mounts cgroup2: with nsdelegate, so that a cgroup namespace is a
	// delegation boundary (a process in one moves processes only between groups inside it).
	if err := unix.Mount("", cgroupRoot, "", unix.MS_REMOUNT|unix.MS_NOSUID, "nsdelegate"); err != nil {
		return "", fmt.Errorf("remount cgroup2 with nsdelegate: %w", err)
	}
	dir := cgroupRoot
	elems := strings.Split(group, "/")
	for i, el := range elems {
		if err := os.WriteFile(filepath.Join(dir, "cgroup.subtree_control"), []byte(delegated), 0); err != nil {
			return "", fmt.Errorf("enable %s in %s: %w", delegated, dir, err)
		}
		dir = filepath.Join(dir, el)
		if err := os.Mkdir(dir, 0o755); err != nil && (i == len(elems)-1 || !errors.Is(err, fs.ErrExist)) {
			return "", err
		}
	}
	return dir, nil
}

// leaveGroup reports the groups a run left in its group, then kills what is still in there
// (orphans of the tests) and removes the group with everything below it, as systemd does when
// a service stops.
func leaveGroup(r vmtest.Run, console io.Writer) error {
	top := filepath.Join(cgroupRoot, r.Group)
	var dirs, left []string
	err := filepath.WalkDir(top, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		dirs = append(dirs, p)
		if p != top {
			left = append(left, strings.TrimPrefix(p, top+"/"))
		}
		return nil
	})
	fmt.Fprintln(console, vmtest.LeftLine(r.Name, left))
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(top, "cgroup.kill"), []byte("1"), 0); err != nil {
		return err
	}
	// Parents after their children: WalkDir listed them first.
	for _, d := range slices.Backward(dirs) {
		if err := rmdirWait(d, 10*time.Second); err != nil {
			return err
		}
	}
	return nil
}

// rmdirWait removes a group, waiting while killed processes are still leaving it.
func rmdirWait(dir string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		err := unix.Rmdir(dir)
		if !errors.Is(err, unix.EBUSY) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// enter is a run's first program in its own cgroup and mount namespaces (enterArg): in place
// of the init's mount of cgroup2 it mounts cgroup2 afresh on cgroupRoot, whose root is then
// the namespace's root group, as a container runtime mounts it for a container; it says what
// the test binary will see and executes the binary, args[0]. (The init's mount, seen from the
// namespace, has the root "/../.." for a group two levels down.)
func enter(args []string) error {
	if len(args) == 0 {
		return errors.New("no program to run")
	}
	// The kernel refuses to mount a file system on the root of a mount of the same one (EBUSY).
	if err := unix.Unmount(cgroupRoot, unix.MNT_DETACH); err != nil {
		return fmt.Errorf("unmount the init's cgroup2 from %s: %w", cgroupRoot, err)
	}
	if err := unix.Mount("cgroup2", cgroupRoot, "cgroup2", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mount cgroup2 on %s: %w", cgroupRoot, err)
	}
	own, _ := os.ReadFile("/proc/self/cgroup")
	fmt.Fprintln(os.Stderr, vmtest.CgroupLine(strings.TrimSpace(string(own))))
	fmt.Fprintf(os.Stderr, "guestinit %s: the cgroup2 mounts (mountinfo): %q\n", enterArg, cgroupMounts())
	return unix.Exec(args[0], args, os.Environ())
}

// cgroupMounts are this process's mountinfo lines of cgroup2 file systems.
func cgroupMounts() []string {
	b, _ := os.ReadFile("/proc/self/mountinfo")
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.Contains(line, " - cgroup2 ") {
			out = append(out, line)
		}
	}
	return out
}
