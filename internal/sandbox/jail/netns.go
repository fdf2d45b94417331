//go:build linux

package jail

import (
	"context"
	"fmt"
	"net"
	"os"
	"runtime"

	"golang.org/x/sys/unix"

	"github.com/ember-serverless/ember/internal/sandbox/loopback"
)

// listenInNetns brings up the loopback interface of a process's network namespace and opens
// a TCP listener on addr there.
func listenInNetns(pidfd *os.File, pid int, addr string) (net.Listener, error) {
	tcpAddr, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("jail: %w", err)
	}
	var ln net.Listener
	err = inNetns(pidfd, pid, func() error {
		if err := loopback.Up(); err != nil {
			return fmt.Errorf("jail: %w", err)
		}
		l, err := net.ListenTCP("tcp", tcpAddr)
		if err != nil {
			return fmt.Errorf("jail: runtime API listener: %w", err)
		}
		ln = l
		return nil
	}, func() {
		if ln != nil {
			ln.Close()
			ln = nil
		}
	})
	return ln, err
}

// dialInNetns connects to addr from inside a process's network namespace: the socket is
// created there and stays there.
func dialInNetns(ctx context.Context, pidfd *os.File, pid int, network, addr string) (net.Conn, error) {
	var conn net.Conn
	err := inNetns(pidfd, pid, func() error {
		var d net.Dialer
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return fmt.Errorf("jail: dial %s in the sandbox: %w", addr, err)
		}
		conn = c
		return nil
	}, func() {
		if conn != nil {
			conn.Close()
			conn = nil
		}
	})
	return conn, err
}

// inNetns runs fn in the network namespace of a process, named by its pidfd when there is
// one (setns accepts a pidfd since Linux 5.8), else by its pid. It enters the namespace on a
// locked OS thread and leaves it before unlocking; a thread that cannot get back is left
// locked, so the Go runtime ends it instead of reusing it, and undo is called to release what
// fn made.
func inNetns(pidfd *os.File, pid int, fn func() error, undo func()) error {
	ch := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		err, back := func() (error, bool) {
			self, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				return fmt.Errorf("jail: %w", err), true
			}
			defer unix.Close(self)
			target := -1
			if pidfd != nil {
				target = int(pidfd.Fd())
			} else {
				fd, err := unix.Open(fmt.Sprintf("/proc/%d/ns/net", pid), unix.O_RDONLY|unix.O_CLOEXEC, 0)
				if err != nil {
					return fmt.Errorf("jail: sandbox network namespace: %w", err), true
				}
				defer unix.Close(fd)
				target = fd
			}
			if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
				return fmt.Errorf("jail: enter sandbox network namespace: %w", err), true
			}
			ferr := fn()
			if err := unix.Setns(self, unix.CLONE_NEWNET); err != nil {
				undo()
				return fmt.Errorf("jail: leave sandbox network namespace: %w", err), false
			}
			return ferr, true
		}()
		ch <- err
		if back {
			runtime.UnlockOSThread()
		}
	}()
	return <-ch
}
