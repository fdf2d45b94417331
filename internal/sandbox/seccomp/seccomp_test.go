//go:build linux

package seccomp

import (
	"encoding/json"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"testing"

	"github.com/ember-serverless/ember/internal/testenv"
	"golang.org/x/sys/unix"
)

// TestMain lets the test binary, re-executed with SECCOMP_TEST_CHILD=1, install the filter and
// report how a set of system calls fare under it.
func TestMain(m *testing.M) {
	if os.Getenv("SECCOMP_TEST_CHILD") == "1" {
		runtime.LockOSThread()
		if err := Install(); err != nil {
			os.Stdout.WriteString(`{"install":"` + err.Error() + `"}`)
			os.Exit(0)
		}
		json.NewEncoder(os.Stdout).Encode(probe())
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// probe makes each call in a way that cannot succeed harmfully even if the filter let it
// through, and records its errno.
func probe() map[string]string {
	res := map[string]string{}
	rec := func(name string, errno syscall.Errno) { res[name] = errno.Error() }
	sc := func(nr, a1, a2, a3 uintptr) syscall.Errno {
		_, _, e := syscall.RawSyscall(nr, a1, a2, a3)
		return e
	}
	rec("mount", sc(unix.SYS_MOUNT, 0, 0, 0))
	rec("unshare", sc(unix.SYS_UNSHARE, unix.CLONE_NEWUSER, 0, 0))
	rec("setns", sc(unix.SYS_SETNS, ^uintptr(0), 0, 0))
	rec("ptrace", sc(unix.SYS_PTRACE, unix.PTRACE_TRACEME, 0, 0))
	rec("bpf", sc(unix.SYS_BPF, ^uintptr(0), 0, 0))
	rec("init_module", sc(unix.SYS_INIT_MODULE, 0, 0, 0))
	rec("keyctl", sc(unix.SYS_KEYCTL, ^uintptr(0), 0, 0))
	rec("perf_event_open", sc(unix.SYS_PERF_EVENT_OPEN, 0, 0, 0))
	rec("userfaultfd", sc(unix.SYS_USERFAULTFD, ^uintptr(0), 0, 0))
	rec("reboot", sc(unix.SYS_REBOOT, 0, 0, 0))
	rec("clone3", sc(unix.SYS_CLONE3, 0, 0, 0))
	rec("clone_newnet", sc(unix.SYS_CLONE, unix.CLONE_NEWNET|uintptr(syscall.SIGCHLD), 0, 0))
	rec("getpid", sc(unix.SYS_GETPID, 0, 0, 0))
	rec("uname", sc(unix.SYS_UNAME, 0, 0, 0))
	var st unix.Stat_t
	res["stat"] = errString(unix.Stat("/", &st))
	// An ordinary fork+exec must keep working.
	res["exec"] = errString(exec.Command("/bin/true").Run())
	return res
}

func errString(err error) string {
	if err == nil {
		return "ok"
	}
	return err.Error()
}

func TestTheFilterRefusesDangerousCallsAndAllowsOrdinaryOnes(t *testing.T) {
	if _, err := Program(); err != nil {
		testenv.Need(t, "no filter for this architecture: %v", err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), "SECCOMP_TEST_CHILD=1")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v", err)
	}
	var res map[string]string
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("child said %q", out)
	}
	eperm := unix.EPERM.Error()
	tests := []struct{ call, want string }{
		{"mount", eperm},
		{"unshare", eperm},
		{"setns", eperm},
		{"ptrace", eperm},
		{"bpf", eperm},
		{"init_module", eperm},
		{"keyctl", eperm},
		{"perf_event_open", eperm},
		{"userfaultfd", eperm},
		{"reboot", eperm},
		{"clone_newnet", eperm},
		{"clone3", unix.ENOSYS.Error()},
		{"getpid", syscall.Errno(0).Error()},
		{"uname", unix.EFAULT.Error()},
		{"stat", "ok"},
		{"exec", "ok"},
	}
	for _, tt := range tests {
		t.Run(tt.call+" gives "+tt.want, func(t *testing.T) {
			if got := res[tt.call]; got != tt.want {
				t.Errorf("%s: got %q, want %q (all: %v)", tt.call, got, tt.want, res)
			}
		})
	}
}

func TestEveryJumpOfTheProgramResolves(t *testing.T) {
	prog, err := Program()
	if err != nil {
		testenv.Need(t, "no filter for this architecture: %v", err)
	}
	if len(prog) < len(Denied())+8 {
		t.Fatalf("program has %d instructions for %d denied calls", len(prog), len(Denied()))
	}
}
