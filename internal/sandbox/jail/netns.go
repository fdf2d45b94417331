//go:build linux

package jail

import (
	"fmt"
	"net"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// listenInNetns brings up the loopback interface of a process's network namespace and opens
// a TCP listener on addr there. The process is named by its pidfd when there is one (setns
// accepts a pidfd since Linux 5.8), else by its pid. It enters the namespace on a locked OS thread and
// leaves it before unlocking; a thread that cannot get back is left locked, so the Go runtime
// ends it instead of reusing it.
func listenInNetns(pidfd *os.File, pid int, addr string) (net.Listener, error) {
	tcpAddr, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("jail: %w", err)
	}
	type result struct {
		ln  net.Listener
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		ln, err, back := func() (net.Listener, error, bool) {
			self, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				return nil, fmt.Errorf("jail: %w", err), true
			}
			defer unix.Close(self)
			target := -1
			if pidfd != nil {
				target = int(pidfd.Fd())
			} else {
				fd, err := unix.Open(fmt.Sprintf("/proc/%d/ns/net", pid), unix.O_RDONLY|unix.O_CLOEXEC, 0)
				if err != nil {
					return nil, fmt.Errorf("jail: sandbox network namespace: %w", err), true
				}
				defer unix.Close(fd)
				target = fd
			}
			if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
				return nil, fmt.Errorf("jail: enter sandbox network namespace: %w", err), true
			}
			ln, lerr := func() (net.Listener, error) {
				if err := loopbackUp(); err != nil {
					return nil, err
				}
				ln, err := net.ListenTCP("tcp", tcpAddr)
				if err != nil {
					return nil, fmt.Errorf("jail: runtime API listener: %w", err)
				}
				return ln, nil
			}()
			if err := unix.Setns(self, unix.CLONE_NEWNET); err != nil {
				if ln != nil {
					ln.Close()
				}
				return nil, fmt.Errorf("jail: leave sandbox network namespace: %w", err), false
			}
			return ln, lerr, true
		}()
		ch <- result{ln, err}
		if back {
			runtime.UnlockOSThread()
		}
	}()
	r := <-ch
	return r.ln, r.err
}

func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("jail: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return fmt.Errorf("jail: %w", err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("jail: loopback flags: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("jail: loopback up: %w", err)
	}
	return nil
}
