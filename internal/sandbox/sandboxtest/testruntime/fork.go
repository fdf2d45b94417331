package main

import (
	"syscall"
	"unsafe"
)

// forkBomb forks children that only wait, until the kernel refuses or limit is reached, and
// returns how many it made. Children never return to the Go runtime: they block in ppoll
// until killed.
func forkBomb(limit int) (int, error) {
	if limit <= 0 {
		limit = 1 << 20
	}
	n := 0
	for n < limit {
		pid, _, errno := syscall.RawSyscall6(syscall.SYS_CLONE, uintptr(syscall.SIGCHLD), 0, 0, 0, 0, 0)
		if errno != 0 {
			return n, errno
		}
		if pid == 0 {
			for {
				syscall.RawSyscall6(syscall.SYS_PPOLL, 0, 0, 0, uintptr(unsafe.Pointer(nil)), 0, 0)
			}
		}
		n++
	}
	return n, nil
}
