//go:build linux

package jail

import (
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ember-serverless/ember/internal/sandbox/cgroups"
	"github.com/ember-serverless/ember/internal/sandbox/cgsandbox"
	"github.com/ember-serverless/ember/internal/sandbox/sandboxtest"
)

// cpuRun is a started sandbox of the test function whose init is over, as the worker leaves
// one after the runtime's first /next.
type cpuRun struct {
	*sandboxtest.Running
	j     *jailed
	share float64 // of a CPU, what its memory buys
}

// startCPURun starts the test function (code) with mb of memory in a new jail of cfg.
func startCPURun(t *testing.T, cfg Config, code string, mb int) cpuRun {
	t.Helper()
	b := newTestBackendWith(t, cfg)
	h := &sandboxtest.Harness{Backend: b, Caps: sandboxtest.Capabilities{Isolated: true, Leftovers: b.leftovers}, CodeDir: code}
	r := h.Start(t, sandboxtest.Options{MemoryMB: mb})
	r.Invoke(t, sandboxtest.Event{Op: "echo", Value: "init"})
	j := r.Sandbox.(*jailed)
	if err := j.EndInitBoost(); err != nil {
		t.Fatal(err)
	}
	if err := j.EndInvoke(); err != nil { // the init's burst
		t.Fatal(err)
	}
	return cpuRun{r, j, float64(cgroups.ForFunction(mb).CPUMilli) / 1000}
}

// burn has the function spin for ms of wall time with children more processes, as the
// worker runs an invocation, and returns the CPU time they used over the wall time it took.
// Meanwhile the test spins on a thread of its own, outside any sandbox: free is the share of
// a CPU that thread got, which is below 1 when the machine is too busy to give the function
// what its limit allows.
func (r cpuRun) burn(t *testing.T, ms, children int) (ratio, free float64, stat cgroups.CPUStat) {
	t.Helper()
	before, err := r.j.CG.CPUStat()
	if err != nil {
		t.Fatal(err)
	}
	control := make(chan float64, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		var ru0, ru1 syscall.Rusage
		began := time.Now()
		syscall.Getrusage(unix.RUSAGE_THREAD, &ru0)
		for time.Since(began) < time.Duration(ms)*time.Millisecond {
		}
		syscall.Getrusage(unix.RUSAGE_THREAD, &ru1)
		used := ru1.Utime.Nano() + ru1.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano()
		control <- float64(used) / float64(time.Since(began))
	}()
	began := time.Now()
	r.j.BeginInvoke()
	res := r.Invoke(t, sandboxtest.Event{Op: "burn", Millis: ms, Code: children})
	if err := r.j.EndInvoke(); err != nil {
		t.Fatal(err)
	}
	wall := time.Since(began)
	free = <-control
	if res.Err != "" {
		t.Fatalf("burn: %s", res.Err)
	}
	after, err := r.j.CG.CPUStat()
	if err != nil {
		t.Fatal(err)
	}
	stat = cgroups.CPUStat{Periods: after.Periods - before.Periods, Throttled: after.Throttled - before.Throttled,
		ThrottledTime: after.ThrottledTime - before.ThrottledTime}
	ratio = float64(res.Count) / float64(wall.Milliseconds())
	t.Logf("CPU over wall %.3f, share %.3f; throttled in %d of %d periods; a thread outside got %.2f of a CPU",
		ratio, r.share, stat.Throttled, stat.Periods, free)
	return ratio, free, stat
}

// busy is how little of a CPU the test's own spinning thread may get before a function's
// use says nothing about its limit, only about the machine's load.
const busy = 0.8

func TestACPUBoundFunctionGetsItsMemorysShareOfACPUInEitherMode(t *testing.T) {
	if testing.Short() {
		t.Skip("spins for 2 s in each of four sandboxes; not in -short runs (the cgroup v2 VM's)")
	}
	code := sandboxtest.BuildRuntime(t)
	tests := []struct {
		name     string
		mode     cgsandbox.CPULimit
		mb       int
		children int
	}{
		{"a 128 MB function, strict mode", cgsandbox.CPULimitStrict, 128, 0},
		{"a 128 MB function, burst mode", cgsandbox.CPULimitBurst, 128, 0},
		{"a 512 MB function forking three busy children, burst mode", cgsandbox.CPULimitBurst, 512, 3},
		{"a 512 MB function forking three busy children, strict mode", cgsandbox.CPULimitStrict, 512, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := startCPURun(t, Config{CPULimit: tt.mode, CPUBurst: 10 * time.Millisecond}, code, tt.mb)
			share := r.share
			ratio, free, _ := r.burn(t, 2000, tt.children)
			if ratio > 1.25*share {
				t.Errorf("the function used %.3f of a CPU over 2 s; its share is %.3f (+25%%)", ratio, share)
			}
			if free < busy {
				t.Logf("the machine is too busy to check that the function got at least 75%% of its share")
			} else if ratio < 0.75*share {
				t.Errorf("the function used %.3f of a CPU over 2 s; its share is %.3f (-25%%)", ratio, share)
			}
		})
	}
}

func TestABurstShorterThanTheThresholdRunsUnthrottledInBurstModeOnly(t *testing.T) {
	code := sandboxtest.BuildRuntime(t)
	for _, mode := range []cgsandbox.CPULimit{cgsandbox.CPULimitBurst, cgsandbox.CPULimitStrict} {
		t.Run(fmt.Sprint(mode, " mode"), func(t *testing.T) {
			r := startCPURun(t, Config{CPULimit: mode, CPUBurst: 5 * time.Second}, code, 128)
			share := r.share
			ratio, free, stat := r.burn(t, 300, 0)
			if mode == cgsandbox.CPULimitStrict {
				if free < busy {
					t.Logf("the machine is too busy to check that strict mode throttles the spin")
				} else if stat.Throttled == 0 {
					t.Errorf("a 300 ms spin in strict mode was never throttled")
				}
				return
			}
			if stat.Throttled != 0 {
				t.Errorf("a 300 ms spin with a 5 s threshold was throttled in %d of %d periods", stat.Throttled, stat.Periods)
			}
			// Well above what the quota would let through: strict mode allows about the share.
			if free < busy {
				t.Logf("the machine is too busy to check how much of a CPU the spin got")
			} else if ratio < 3*share {
				t.Errorf("the spin used %.3f of a CPU, hardly more than the share %.3f", ratio, share)
			}
		})
	}
}

func TestABurstModeSandboxIsReleasedWhenItsInvocationEnds(t *testing.T) {
	code := sandboxtest.BuildRuntime(t)
	r := startCPURun(t, Config{CPULimit: cgsandbox.CPULimitBurst, CPUBurst: 10 * time.Millisecond}, code, 128)
	if r.j.b.CgroupVersion() != 1 {
		t.Skip("on cgroup v2 a burst-mode sandbox stays in its group, under no quota until held")
	}
	// inCPUGroup reports whether the sandbox's processes are in its cpu group (v1).
	inCPUGroup := func() bool {
		pids, err := r.j.CG.Procs()
		if err != nil || len(pids) == 0 {
			t.Fatalf("Procs = %v, %v", pids, err)
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pids[0]))
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.SplitN(line, ":", 3); len(f) == 3 && slices.Contains(strings.Split(f[1], ","), "cpu") {
				return strings.HasSuffix(f[2], "-"+r.ID)
			}
		}
		t.Fatalf("no cpu hierarchy in %s", b)
		return false
	}
	if inCPUGroup() {
		t.Fatal("an idle burst-mode sandbox's processes are in its CPU group")
	}
	r.j.BeginInvoke()
	r.Invoke(t, sandboxtest.Event{Op: "burn", Millis: 200})
	if !inCPUGroup() {
		t.Error("an invocation past the threshold is not in its CPU group")
	}
	if err := r.j.EndInvoke(); err != nil {
		t.Fatal(err)
	}
	if inCPUGroup() {
		t.Error("the sandbox stays in its CPU group after the invocation ended")
	}
}
