package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ember-serverless/ember/bench/internal/harness"
	"github.com/ember-serverless/ember/internal/sandbox/loopback"
)

// functionEnv is what the echo function's runtime is given besides AWS_LAMBDA_RUNTIME_API.
var functionEnv = []string{"AWS_LAMBDA_FUNCTION_NAME=echo", "AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
	"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128", "_HANDLER=bootstrap", "PATH=/usr/local/bin:/usr/bin:/bin"}

// forkExec times a bare start of bootstrap until it connects to its Runtime API listener.
func forkExec(ctx context.Context, bootstrap string) (time.Duration, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	cmd := exec.Command(bootstrap)
	cmd.Env = append([]string{"AWS_LAMBDA_RUNTIME_API=" + ln.Addr().String()}, functionEnv...)
	cmd.Dir = filepath.Dir(bootstrap)
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	return harness.AcceptAndKill(ln, cmd, start)
}

// nsIDBase is the host uid (and gid) the namespaced runtime's root maps to: far above ordinary
// accounts and the jail's ranges.
const nsIDBase = 3 << 30

// forkExecNS times the least a namespace sandbox can cost: on a locked thread, a new network
// namespace with its loopback up and the Runtime API listener on 127.0.0.1:9001, then
// bootstrap cloned from that thread into new user (root mapped to an unprivileged host id),
// pid, mount, ipc and uts namespaces, until it connects. No root file system, cgroup or seccomp
// filter: what the jail adds to this is its own cost.
func forkExecNS(ctx context.Context, bootstrap string) (time.Duration, error) {
	type result struct {
		d   time.Duration
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		back := true
		defer func() {
			if back {
				runtime.UnlockOSThread()
			}
		}()
		self, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			ch <- result{err: err}
			return
		}
		defer unix.Close(self)
		start := time.Now()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			ch <- result{err: fmt.Errorf("new network namespace: %w", err)}
			return
		}
		var ln net.Listener
		var cmd *exec.Cmd
		err = func() error {
			if err := loopback.Up(); err != nil {
				return err
			}
			l, err := net.Listen("tcp", "127.0.0.1:9001")
			if err != nil {
				return err
			}
			ln = l
			cmd = exec.Command(bootstrap)
			cmd.Env = append([]string{"AWS_LAMBDA_RUNTIME_API=127.0.0.1:9001"}, functionEnv...)
			cmd.Dir = filepath.Dir(bootstrap)
			cmd.SysProcAttr = &syscall.SysProcAttr{
				Cloneflags:  syscall.CLONE_NEWUSER | syscall.CLONE_NEWPID | syscall.CLONE_NEWNS | syscall.CLONE_NEWIPC | syscall.CLONE_NEWUTS,
				UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: nsIDBase, Size: 1}},
				GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: nsIDBase, Size: 1}},
				Credential:  &syscall.Credential{Uid: 0, Gid: 0},
				Pdeathsig:   syscall.SIGKILL,
			}
			return cmd.Start()
		}()
		if err := unix.Setns(self, unix.CLONE_NEWNET); err != nil {
			back = false // the thread stays in the namespace: let it die with the goroutine
		}
		if err != nil {
			if ln != nil {
				ln.Close()
			}
			ch <- result{err: err}
			return
		}
		d, err := harness.AcceptAndKill(ln, cmd, start)
		ln.Close()
		ch <- result{d, err}
	}()
	r := <-ch
	return r.d, r.err
}

// bareRuntime is the echo function as a plain process with its own Runtime API: what a
// sandbox costs beyond is the sandbox's own.
type bareRuntime struct {
	cmd  *exec.Cmd
	api  *runtimeAPI
	done chan struct{}
}

func startBare(ctx context.Context, bootstrap string) (*bareRuntime, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	b := &bareRuntime{api: serveRuntimeAPI(ln), done: make(chan struct{})}
	b.cmd = exec.Command(bootstrap)
	b.cmd.Env = append([]string{"AWS_LAMBDA_RUNTIME_API=" + ln.Addr().String()}, functionEnv...)
	b.cmd.Dir = filepath.Dir(bootstrap)
	b.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := b.cmd.Start(); err != nil {
		b.api.Close()
		return nil, err
	}
	go func() { b.cmd.Wait(); close(b.done) }()
	if err := b.api.invoke(ctx, b.done, []byte(`{"bare":1}`)); err != nil {
		b.stop()
		return nil, err
	}
	return b, nil
}

func (b *bareRuntime) stop() {
	_ = b.cmd.Process.Kill()
	<-b.done
	b.api.Close()
}

// rssKiB is a process's resident set from /proc.
func rssKiB(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	var kib int64
	for _, line := range splitLines(string(b)) {
		if _, err := fmt.Sscanf(line, "VmRSS: %d kB", &kib); err == nil {
			return kib
		}
	}
	return 0
}
