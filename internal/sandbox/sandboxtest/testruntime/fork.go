package main

import (
	"syscall"
	"unsafe"
)

// forkBomb forks children that only wait, until the kernel refuses or limit is reached, and
// returns how many it made. Children never return to the Go runtime: they block in ppoll
// until killed, and stay when the limit is reached. When the kernel refuses first (the pids
// limit), they are killed and reaped before it returns: at that limit the runtime itself could
// not start a thread it may need to answer (the Go runtime aborts when a new OS thread is
// refused), and the suite checks the sandbox answers after the bomb.
func forkBomb(limit int) (int, error) {
	if limit <= 0 {
		limit = 1 << 20
	}
	var children []int
	refused := false
	defer func() {
		if !refused {
			return
		}
		for _, pid := range children {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		for _, pid := range children {
			var ws syscall.WaitStatus
			syscall.Wait4(pid, &ws, 0, nil)
		}
	}()
	for len(children) < limit {
		pid, _, errno := syscall.RawSyscall6(syscall.SYS_CLONE, uintptr(syscall.SIGCHLD), 0, 0, 0, 0, 0)
		if errno != 0 {
			refused = true
			return len(children), errno
		}
		if pid == 0 {
			for {
				syscall.RawSyscall6(syscall.SYS_PPOLL, 0, 0, 0, uintptr(unsafe.Pointer(nil)), 0, 0)
			}
		}
		children = append(children, int(pid))
	}
	return len(children), nil
}
