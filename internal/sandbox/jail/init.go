//go:build linux

package jail

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/ember-serverless/ember/internal/sandbox/cgsandbox"
	"github.com/ember-serverless/ember/internal/sandbox/seccomp"
)

// The init (and the spawner) is the init program, or the server's own binary, run with this
// environment variable set.
const (
	initEnv   = "_EMBER_JAIL_INIT"
	initMagic = "1"
	initArg0  = "ember-jail-init"
)

// File descriptors the init inherits.
const (
	ctrlFD   = 3 // read: configuration line, then one byte to start
	statusFD = 4 // write: "ready", or "error: ..."
)

// hostDir is a host directory shared read-only, or a symbolic link recreated.
type hostDir struct {
	Path string
	Link string `json:",omitempty"`
}

// initConfig is what the server tells the init, as one JSON line on the control pipe.
type initConfig struct {
	Root       string            // host directory to mount the sandbox's root on
	Hostname   string            //
	TmpMB      int               // size of /tmp, when it is a tmpfs
	TmpFD      int               // /tmp, already made (on disk), or -1 for a tmpfs
	Command    []string          // the runtime, as seen inside
	Extensions [][]string        // external extensions, started just before the runtime
	Env        []string          // the runtime's environment
	UID, GID   int               // the user the runtime runs as
	HostDirs   []hostDir         // shared read-only at the same path
	HostFiles  []string          // host files bound read-only at the same path
	Files      map[string]string // files of /etc, by name
	CodeFD     int               // /var/task
	LayerFDs   []int             // /opt, bottom first
	RuntimeFD  int               // /var/runtime, or -1
}

// MaybeRunInit turns the process into a jail's init, or into the spawner that starts them
// (see spawner.go), when the jail backend started it; it never returns then. Otherwise it
// returns at once. main and TestMain must call it first, before anything else starts
// goroutines or opens files.
func MaybeRunInit() {
	switch os.Getenv(initEnv) {
	case initMagic:
	case spawnerMagic:
		if err := runSpawner(); err != nil {
			fmt.Fprintf(os.Stderr, "ember jail spawner: %v\n", err)
		}
		os.Exit(0)
	default:
		return
	}
	// Namespaces, the capability bounding set, no_new_privs and seccomp are per thread until
	// execve, which keeps only the calling thread: do all of it on this one.
	runtime.LockOSThread()
	status := os.NewFile(statusFD, "status")
	// runInit returns only when it could not exec the runtime, the server's going away before
	// Start included.
	err := runInit()
	cgsandbox.ReportError(status, err)
	os.Exit(127)
}

func runInit() error {
	ctrl := bufio.NewReader(os.NewFile(ctrlFD, "ctrl"))
	line, err := ctrl.ReadBytes('\n')
	if err != nil {
		return fmt.Errorf("read configuration: %w", err)
	}
	var cfg initConfig
	if err := json.Unmarshal(line, &cfg); err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	// The server has moved this process into the sandbox's cgroup by now; make that the root
	// of what the runtime can see of cgroups.
	if err := unix.Unshare(unix.CLONE_NEWCGROUP); err != nil {
		return fmt.Errorf("cgroup namespace: %w", err)
	}
	if err := buildRoot(&cfg); err != nil {
		return err
	}
	if err := unix.Sethostname([]byte(cfg.Hostname)); err != nil {
		return fmt.Errorf("hostname: %w", err)
	}
	for _, rl := range []struct {
		res int
		v   uint64
	}{{unix.RLIMIT_NOFILE, 1024}, {unix.RLIMIT_CORE, 0}} {
		if err := unix.Setrlimit(rl.res, &unix.Rlimit{Cur: rl.v, Max: rl.v}); err != nil {
			return fmt.Errorf("rlimit %d: %w", rl.res, err)
		}
	}
	if err := os.Chdir("/var/task"); err != nil {
		return err
	}
	path, err := cgsandbox.LookPath(cfg.Command[0], cfg.Env)
	if err != nil {
		return err
	}
	extPaths := make([]string, len(cfg.Extensions))
	for i, e := range cfg.Extensions {
		if extPaths[i], err = cgsandbox.LookPath(e[0], cfg.Env); err != nil {
			return err
		}
	}
	if err := dropPrivileges(cfg.UID, cfg.GID); err != nil {
		return err
	}
	if err := seccomp.Install(); err != nil {
		return err
	}
	status := os.NewFile(statusFD, "status")
	if _, err := io.WriteString(status, cgsandbox.StatusReady+"\n"); err != nil {
		return err
	}
	var b [1]byte
	if n, _ := ctrl.Read(b[:]); n != 1 {
		os.Exit(0) // destroyed before it was started
	}
	// Nothing the init holds may reach the runtime.
	if err := unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		return fmt.Errorf("close descriptors: %w", err)
	}
	// Extensions are forked from this (locked) thread, so they inherit its credentials,
	// capability bounding set and seccomp filter, and stay children of the process that is
	// about to become the runtime: the pid namespace's init, whose end ends them too.
	for i, e := range cfg.Extensions {
		attr := &syscall.ProcAttr{Env: cfg.Env, Files: []uintptr{0, 1, 2}}
		if _, err := syscall.ForkExec(extPaths[i], e, attr); err != nil {
			return fmt.Errorf("start extension %s: %w", e[0], err)
		}
	}
	err = syscall.Exec(path, cfg.Command, cfg.Env)
	return fmt.Errorf("exec %s: %w", cfg.Command[0], err)
}

// dropPrivileges empties the capability bounding set, becomes the sandbox user (which clears
// the permitted, effective and ambient sets), and keeps the parent-death signal that the
// credential change clears.
func dropPrivileges(uid, gid int) error {
	last := 40
	if b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap"); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			last = n
		}
	}
	for c := 0; c <= last; c++ {
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil && !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("drop capability %d: %w", c, err)
		}
	}
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil {
		return fmt.Errorf("clear ambient capabilities: %w", err)
	}
	if err := syscall.Setgroups(nil); err != nil {
		return fmt.Errorf("setgroups: %w", err)
	}
	if err := syscall.Setresgid(gid, gid, gid); err != nil {
		return fmt.Errorf("setresgid: %w", err)
	}
	if err := syscall.Setresuid(uid, uid, uid); err != nil {
		return fmt.Errorf("setresuid: %w", err)
	}
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0); err != nil {
		return fmt.Errorf("parent-death signal: %w", err)
	}
	return nil
}
