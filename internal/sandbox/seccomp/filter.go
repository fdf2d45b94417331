//go:build linux

package seccomp

import (
	"errors"
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ErrUnsupportedArch is returned on architectures without a syscall table here.
var ErrUnsupportedArch = errors.New("seccomp: unsupported architecture " + runtime.GOARCH)

// commonDenied are denied on every architecture.
var commonDenied = map[string]uintptr{
	"mount":             unix.SYS_MOUNT,
	"umount2":           unix.SYS_UMOUNT2,
	"pivot_root":        unix.SYS_PIVOT_ROOT,
	"chroot":            unix.SYS_CHROOT,
	"unshare":           unix.SYS_UNSHARE,
	"setns":             unix.SYS_SETNS,
	"move_mount":        unix.SYS_MOVE_MOUNT,
	"open_tree":         unix.SYS_OPEN_TREE,
	"fsopen":            unix.SYS_FSOPEN,
	"fsconfig":          unix.SYS_FSCONFIG,
	"fsmount":           unix.SYS_FSMOUNT,
	"fspick":            unix.SYS_FSPICK,
	"mount_setattr":     unix.SYS_MOUNT_SETATTR,
	"ptrace":            unix.SYS_PTRACE,
	"process_vm_readv":  unix.SYS_PROCESS_VM_READV,
	"process_vm_writev": unix.SYS_PROCESS_VM_WRITEV,
	"kcmp":              unix.SYS_KCMP,
	"pidfd_getfd":       unix.SYS_PIDFD_GETFD,
	"bpf":               unix.SYS_BPF,
	"init_module":       unix.SYS_INIT_MODULE,
	"finit_module":      unix.SYS_FINIT_MODULE,
	"delete_module":     unix.SYS_DELETE_MODULE,
	"kexec_load":        unix.SYS_KEXEC_LOAD,
	"kexec_file_load":   unix.SYS_KEXEC_FILE_LOAD,
	"reboot":            unix.SYS_REBOOT,
	"keyctl":            unix.SYS_KEYCTL,
	"add_key":           unix.SYS_ADD_KEY,
	"request_key":       unix.SYS_REQUEST_KEY,
	"perf_event_open":   unix.SYS_PERF_EVENT_OPEN,
	"userfaultfd":       unix.SYS_USERFAULTFD,
	"swapon":            unix.SYS_SWAPON,
	"swapoff":           unix.SYS_SWAPOFF,
	"acct":              unix.SYS_ACCT,
	"settimeofday":      unix.SYS_SETTIMEOFDAY,
	"clock_settime":     unix.SYS_CLOCK_SETTIME,
	"clock_adjtime":     unix.SYS_CLOCK_ADJTIME,
	"adjtimex":          unix.SYS_ADJTIMEX,
	"syslog":            unix.SYS_SYSLOG,
	"quotactl":          unix.SYS_QUOTACTL,
	"open_by_handle_at": unix.SYS_OPEN_BY_HANDLE_AT,
	"name_to_handle_at": unix.SYS_NAME_TO_HANDLE_AT,
	"lookup_dcookie":    unix.SYS_LOOKUP_DCOOKIE,
	"sethostname":       unix.SYS_SETHOSTNAME,
	"setdomainname":     unix.SYS_SETDOMAINNAME,
	"nfsservctl":        unix.SYS_NFSSERVCTL,
	"vhangup":           unix.SYS_VHANGUP,
	"fanotify_init":     unix.SYS_FANOTIFY_INIT,
	"io_uring_setup":    unix.SYS_IO_URING_SETUP,
	"io_uring_enter":    unix.SYS_IO_URING_ENTER,
	"io_uring_register": unix.SYS_IO_URING_REGISTER,
}

// nsFlags are clone flags that make new namespaces.
const nsFlags = unix.CLONE_NEWNS | unix.CLONE_NEWCGROUP | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC |
	unix.CLONE_NEWUSER | unix.CLONE_NEWPID | unix.CLONE_NEWNET | unix.CLONE_NEWTIME

// Denied lists the names of the system calls the filter makes fail with EPERM on this
// architecture (clone with namespace flags is also refused).
func Denied() []string {
	var out []string
	for n := range commonDenied {
		out = append(out, n)
	}
	for n := range archDenied {
		out = append(out, n)
	}
	return out
}

// offsets into struct seccomp_data
const (
	offNr   = 0
	offArch = 4
	offArg0 = 16 // low 32 bits on little-endian architectures
)

const (
	retAllow  = unix.SECCOMP_RET_ALLOW
	retKill   = unix.SECCOMP_RET_KILL_PROCESS
	retEPERM  = unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)
	retENOSYS = unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)
)

// insn is an instruction whose jump targets are labels resolved by assemble.
type insn struct {
	code       uint16
	k          uint32
	jt, jf     string // label names; "" means the next instruction
	label      string // this instruction's own label
	isJumpCond bool
}

func stmt(code uint16, k uint32) insn { return insn{code: code, k: k} }
func jump(code uint16, k uint32, jt, jf string) insn {
	return insn{code: code, k: k, jt: jt, jf: jf, isJumpCond: true}
}
func labelled(l string, i insn) insn { i.label = l; return i }

func assemble(prog []insn) ([]unix.SockFilter, error) {
	at := map[string]int{}
	for i, in := range prog {
		if in.label != "" {
			at[in.label] = i
		}
	}
	off := func(from int, l string) (uint8, error) {
		if l == "" {
			return 0, nil
		}
		to, ok := at[l]
		if !ok {
			return 0, fmt.Errorf("seccomp: unknown label %q", l)
		}
		d := to - from - 1
		if d < 0 || d > 255 {
			return 0, fmt.Errorf("seccomp: jump to %q out of range", l)
		}
		return uint8(d), nil
	}
	out := make([]unix.SockFilter, len(prog))
	for i, in := range prog {
		f := unix.SockFilter{Code: in.code, K: in.k}
		if in.isJumpCond {
			var err error
			if f.Jt, err = off(i, in.jt); err != nil {
				return nil, err
			}
			if f.Jf, err = off(i, in.jf); err != nil {
				return nil, err
			}
		}
		out[i] = f
	}
	return out, nil
}

// Program returns the filter as classic BPF.
func Program() ([]unix.SockFilter, error) {
	if auditArch == 0 {
		return nil, ErrUnsupportedArch
	}
	const (
		ldW  = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
		jeq  = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
		jge  = unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K
		jset = unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K
		ret  = unix.BPF_RET | unix.BPF_K
	)
	p := []insn{
		stmt(ldW, offArch),
		jump(jeq, auditArch, "nr", ""),
		stmt(ret, retKill),
		labelled("nr", stmt(ldW, offNr)),
	}
	if x32Bit != 0 {
		p = append(p, jump(jge, x32Bit, "eperm", ""))
	}
	for _, m := range []map[string]uintptr{commonDenied, archDenied} {
		for _, nr := range m {
			p = append(p, jump(jeq, uint32(nr), "eperm", ""))
		}
	}
	p = append(p,
		jump(jeq, unix.SYS_CLONE3, "enosys", ""),
		jump(jeq, unix.SYS_CLONE, "", "allow"),
		stmt(ldW, offArg0),
		jump(jset, nsFlags, "eperm", "allow"),
		labelled("allow", stmt(ret, retAllow)),
		labelled("eperm", stmt(ret, retEPERM)),
		labelled("enosys", stmt(ret, retENOSYS)),
	)
	return assemble(p)
}

// Install sets no_new_privs and loads the filter into every thread of the calling process;
// it stays in force across execve. Call it last, after every privileged set-up step.
func Install() error {
	prog, err := Program()
	if err != nil {
		return err
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("seccomp: set no_new_privs: %w", err)
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	_, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER,
		unix.SECCOMP_FILTER_FLAG_TSYNC, uintptr(unsafe.Pointer(&fprog)))
	runtime.KeepAlive(prog)
	if errno != 0 {
		return fmt.Errorf("seccomp: load filter: %w", errno)
	}
	return nil
}
