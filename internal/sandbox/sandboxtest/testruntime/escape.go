package main

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ember-serverless/ember/internal/sandbox/sandboxtest/testproto"
)

// tryEscapes runs every attempt and maps its name to "" when it was contained, or to what
// got through.
func tryEscapes(p testproto.EscapeParams) map[string]string {
	res := map[string]string{}
	try := func(name string, f func() string) { res[name] = f() }

	readAny := func(files []string) string {
		for _, f := range files {
			if b, err := os.ReadFile(f); err == nil {
				return fmt.Sprintf("read %s: %q", f, b)
			}
		}
		return ""
	}
	try("read host files", func() string { return readAny(p.HostFiles) })
	try("read the server's data directory", func() string { return readAny(p.DataFiles) })
	try("read another function's code", func() string { return readAny(p.OtherCode) })
	try("see host paths in its mount table", func() string {
		for _, f := range []string{"/proc/self/mountinfo", "/proc/self/mounts"} {
			b, err := os.ReadFile(f)
			if err != nil {
				continue
			}
			for _, h := range p.HostPaths {
				if h != "" && h != "/" && bytes.Contains(b, []byte(h)) {
					return fmt.Sprintf("%s names %s:\n%s", f, h, b)
				}
			}
		}
		return ""
	})
	try("write host directories", func() string {
		for _, d := range p.HostDirs {
			if err := os.WriteFile(d+"/escaped", []byte("x"), 0o644); err == nil {
				return "wrote into " + d
			}
		}
		return ""
	})
	try("list host processes", func() string {
		ents, err := os.ReadDir("/proc")
		if err != nil {
			return ""
		}
		n := 0
		for _, e := range ents {
			if _, err := strconv.Atoi(e.Name()); err != nil {
				continue
			}
			n++
			b, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
			if p.ServerCmdline != "" && bytes.Contains(b, []byte(p.ServerCmdline)) {
				return "sees the server: pid " + e.Name()
			}
		}
		if n > 16 {
			return fmt.Sprintf("sees %d processes", n)
		}
		return ""
	})
	try("signal the server", func() string {
		if p.ServerPid > 0 && syscall.Kill(p.ServerPid, 0) == nil {
			if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p.ServerPid)); bytes.Contains(b, []byte(p.ServerCmdline)) {
				return "can signal the server"
			}
		}
		return ""
	})
	try("connect to the server's port on loopback", func() string {
		c, err := net.DialTimeout("tcp", p.ServerAddr, 2*time.Second)
		if err == nil {
			c.Close()
			return "connected to " + p.ServerAddr
		}
		return ""
	})
	try("see non-loopback interfaces", func() string {
		ifs, err := net.Interfaces()
		if err != nil {
			return ""
		}
		var bad []string
		for _, i := range ifs {
			if i.Flags&net.FlagLoopback == 0 {
				bad = append(bad, i.Name)
			}
		}
		if len(bad) > 0 {
			return "sees " + strings.Join(bad, ",")
		}
		return ""
	})
	try("write /var/task", func() string {
		if err := os.WriteFile("/var/task/escaped", []byte("x"), 0o644); err == nil {
			return "wrote /var/task/escaped"
		}
		return ""
	})
	try("write /proc/sys", func() string {
		for _, f := range []string{"/proc/sys/kernel/hostname", "/proc/sys/vm/drop_caches", "/proc/sysrq-trigger"} {
			if fh, err := os.OpenFile(f, os.O_WRONLY, 0); err == nil {
				fh.Close()
				return "opened " + f + " for writing"
			}
		}
		return ""
	})
	try("read the kernel log", func() string {
		if fh, err := os.Open("/dev/kmsg"); err == nil {
			fh.Close()
			return "opened /dev/kmsg"
		}
		return ""
	})
	try("mount", func() string {
		// Onto a fresh directory, and undone at once, in case it works.
		dir, err := os.MkdirTemp("", "mnt")
		if err != nil {
			dir = "/tmp"
		}
		defer os.Remove(dir)
		if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=1m"); err == nil {
			syscall.Unmount(dir, syscall.MNT_DETACH)
			return "mounted a tmpfs"
		}
		return ""
	})
	try("ptrace", func() string {
		// PTRACE_TRACEME harms nothing if it works; the filter refuses ptrace altogether.
		if _, _, e := syscall.RawSyscall6(syscall.SYS_PTRACE, syscall.PTRACE_TRACEME, 0, 0, 0, 0, 0); e != syscall.EPERM {
			return "ptrace gave " + errnoName(e)
		}
		return ""
	})
	try("bpf", func() string {
		// BPF_PROG_LOAD with no attributes: EPERM under the filter, EINVAL/EFAULT without it.
		if _, _, e := syscall.RawSyscall(unix.SYS_BPF, unix.BPF_PROG_LOAD, 0, 0); e != syscall.EPERM {
			return "bpf gave " + errnoName(e)
		}
		return ""
	})
	try("load kernel modules", func() string {
		if _, _, e := syscall.RawSyscall(syscall.SYS_INIT_MODULE, 0, 0, 0); e != syscall.EPERM {
			return "init_module gave " + errnoName(e)
		}
		if _, _, e := syscall.RawSyscall(unix.SYS_FINIT_MODULE, ^uintptr(0), 0, 0); e != syscall.EPERM {
			return "finit_module gave " + errnoName(e)
		}
		return ""
	})
	try("set the host name", func() string {
		old, _ := os.Hostname()
		if err := syscall.Sethostname([]byte(old)); err == nil {
			return "set the host name"
		}
		return ""
	})
	try("fill /tmp past its limit", func() string {
		n, err := fillTmp(int64(p.TmpLimitMB)<<20 + 64<<20)
		if !errors.Is(err, syscall.ENOSPC) {
			return fmt.Sprintf("wrote %d MB, then %v", n>>20, err)
		}
		if p.TmpLimitMB > 0 && n > int64(p.TmpLimitMB)<<20 {
			return fmt.Sprintf("wrote %d MB into a %d MB /tmp", n>>20, p.TmpLimitMB)
		}
		return ""
	})
	try("have capabilities", func() string {
		for _, k := range []string{"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"} {
			v := status(k)
			if v == "?" && k == "CapAmb" {
				// A kernel that does not show the ambient set (gVisor's) still answers for it.
				if c := ambientCap(); c >= 0 {
					return fmt.Sprintf("ambient capability %d is set", c)
				}
				continue
			}
			if v != "0000000000000000" {
				return k + " is " + v
			}
		}
		return ""
	})
	try("lack no_new_privs", func() string {
		v := status("NoNewPrivs")
		if v == "?" {
			// A kernel that does not show it in status (gVisor's) still answers prctl.
			n, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, unix.PR_GET_NO_NEW_PRIVS, 0, 0)
			if e != 0 {
				return "PR_GET_NO_NEW_PRIVS: " + e.Error()
			}
			v = fmt.Sprint(n)
		}
		if v != "1" {
			return "NoNewPrivs is " + v
		}
		return ""
	})
	try("run without seccomp", func() string {
		if v := status("Seccomp"); v != "2" {
			return "Seccomp is " + v
		}
		return ""
	})
	try("run as host root", func() string {
		uid := os.Getuid()
		b, err := os.ReadFile("/proc/self/uid_map")
		if err != nil {
			return "cannot read uid_map: " + err.Error()
		}
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			f := strings.Fields(line)
			if len(f) != 3 {
				continue
			}
			in, _ := strconv.Atoi(f[0])
			out, _ := strconv.Atoi(f[1])
			n, _ := strconv.Atoi(f[2])
			if uid >= in && uid < in+n && out+(uid-in) == 0 {
				return "runs as host root"
			}
			if out == 0 {
				return "host root is mapped: " + line
			}
		}
		if uid == 0 {
			return "runs as root in its namespace"
		}
		return ""
	})
	// Last: if it works, the process is in a new user namespace from here on.
	try("unshare", func() string {
		for _, fl := range []int{syscall.CLONE_NEWUSER, syscall.CLONE_NEWNS, syscall.CLONE_NEWNET} {
			if _, _, e := syscall.RawSyscall(syscall.SYS_UNSHARE, uintptr(fl), 0, 0); e == 0 {
				return fmt.Sprintf("unshare(%#x) worked", fl)
			}
		}
		return ""
	})
	return res
}

// ambientCap returns an ambient capability that is set, or -1.
func ambientCap() int {
	for c := 0; c <= unix.CAP_LAST_CAP; c++ {
		n, _, e := syscall.RawSyscall6(syscall.SYS_PRCTL, unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_IS_SET, uintptr(c), 0, 0, 0)
		if e == 0 && n == 1 {
			return c
		}
	}
	return -1
}

func status(key string) string {
	b, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, key+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}

func errnoName(e syscall.Errno) string {
	if e == 0 {
		return "success"
	}
	return e.Error()
}
