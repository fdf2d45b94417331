package main

import (
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"
)

// burnEnv, set in a child the function starts, makes the child spin for that many
// milliseconds and exit instead of serving invocations.
const burnEnv = "TESTRUNTIME_BURN_MS"

// burn spins for ms milliseconds of wall time, with children more processes spinning beside
// it, and returns the CPU time, in milliseconds, that it and its children used meanwhile.
// Children are started before the spinning, so a backend that moves the sandbox into a CPU
// group part-way must move them too.
func burn(ms, children int) (int, error) {
	before := cpuMillis(syscall.RUSAGE_SELF) + cpuMillis(syscall.RUSAGE_CHILDREN)
	var cmds []*exec.Cmd
	for range children {
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), burnEnv+"="+strconv.Itoa(ms))
		if err := cmd.Start(); err != nil {
			return 0, err
		}
		cmds = append(cmds, cmd)
	}
	spin(time.Duration(ms) * time.Millisecond)
	for _, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			return 0, err
		}
	}
	after := cpuMillis(syscall.RUSAGE_SELF) + cpuMillis(syscall.RUSAGE_CHILDREN)
	return int(after - before), nil
}

// spin keeps one CPU busy for d of wall time.
func spin(d time.Duration) {
	end := time.Now().Add(d)
	for n := 0; ; n++ {
		if n%1024 == 0 && time.Now().After(end) {
			return
		}
	}
}

func cpuMillis(who int) int64 {
	var ru syscall.Rusage
	if syscall.Getrusage(who, &ru) != nil {
		return 0
	}
	return (ru.Utime.Nano() + ru.Stime.Nano()) / 1e6
}

// maybeBurn is the child's part of burn.
func maybeBurn() {
	if v := os.Getenv(burnEnv); v != "" {
		ms, _ := strconv.Atoi(v)
		spin(time.Duration(ms) * time.Millisecond)
		os.Exit(0)
	}
}
