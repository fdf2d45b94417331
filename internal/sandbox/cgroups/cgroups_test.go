package cgroups

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ember-serverless/ember/internal/testenv"
)

// TestMain lets the test binary act as a memory hog when re-executed by a test.
func TestMain(m *testing.M) {
	if os.Getenv("CGROUPS_TEST_HOG") == "1" {
		var keep [][]byte
		for {
			b := make([]byte, 1<<20)
			for i := range b {
				b[i] = 1
			}
			//lint:ignore SA4010 the memory is kept alive until the kernel kills the process
			keep = append(keep, b)
		}
	}
	os.Exit(m.Run())
}

func TestForFunctionGivesOneVCPUAt1769MB(t *testing.T) {
	tests := []struct {
		mb       int
		wantMill int64
	}{
		{1769, 1000},
		{3538, 2000},
		{128, 72},
		{1, 10},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d MB", tt.mb), func(t *testing.T) {
			l := ForFunction(tt.mb)
			if l.CPUMilli != tt.wantMill || l.MemoryBytes != int64(tt.mb)<<20 || l.Pids != 1024 {
				t.Fatalf("ForFunction(%d) = %+v", tt.mb, l)
			}
		})
	}
}

func TestMountinfoAndProcCgroupParseIntoHostPaths(t *testing.T) {
	dir := t.TempDir()
	mi := filepath.Join(dir, "mountinfo")
	os.WriteFile(mi, []byte(strings.Join([]string{
		`27 1 254:0 / / rw,relatime - ext4 /dev/vda rw`,
		`35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory`,
		`32 31 0:29 /docker/abc /sys/fs/cgroup/cpu\040x rw,relatime - cgroup cgroup rw,cpu,cpuacct`,
		`41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw`,
	}, "\n")), 0o644)
	pc := filepath.Join(dir, "cgroup")
	os.WriteFile(pc, []byte("4:memory:/a/b\n1:cpu,cpuacct:/docker/abc/x\n0::/\n"), 0o644)
	mounts, err := readMountinfo(mi)
	if err != nil || len(mounts) != 3 {
		t.Fatalf("mounts = %+v, %v", mounts, err)
	}
	own, err := readProcCgroup(pc)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := hostPath(mounts[0], own["memory"]); got != "/sys/fs/cgroup/memory/a/b" {
		t.Errorf("memory path = %q, %v", got, err)
	}
	if got, err := hostPath(mounts[1], own["cpuacct"]); got != "/sys/fs/cgroup/cpu x/x" {
		t.Errorf("cpu path = %q, %v", got, err)
	}
	// In a cgroup namespace that kept its parent's mount, the mount's root lies above the
	// namespace's: there is no telling which directory the process's group is.
	for _, c := range []struct{ root, path string }{{"/../..", "/"}, {"/docker/abc", "/docker/abcdef"}} {
		if got, err := hostPath(mount{point: "/sys/fs/cgroup", root: c.root}, c.path); err == nil {
			t.Errorf("hostPath(root %s, %s) = %q, want an error", c.root, c.path, got)
		}
	}
	if own[""] != "/" || !slices.Contains(mounts[1].super, "cpuacct") {
		t.Errorf("own = %v, super = %v", own, mounts[1].super)
	}
}

func liveManager(t testing.TB) Manager {
	t.Helper()
	testenv.NeedRoot(t, "to create cgroups")
	m, err := Detect(Config{Prefix: fmt.Sprintf("ember-test-%d", os.Getpid())})
	if err != nil {
		testenv.Need(t, "no usable cgroups on this host: %v", err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return m
}

func TestAGroupFreezesThawsKillsAndIsDeleted(t *testing.T) {
	m := liveManager(t)
	g, err := m.Create("g1", ForFunction(128))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	if err := g.Add(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	if pids, err := g.Procs(); err != nil || !slices.Equal(pids, []int{cmd.Process.Pid}) {
		t.Fatalf("Procs = %v, %v", pids, err)
	}
	if err := g.Freeze(); err != nil {
		t.Fatal(err)
	}
	if err := g.Thaw(); err != nil {
		t.Fatal(err)
	}
	if peak, err := g.PeakMemory(); err != nil || peak < 0 {
		t.Errorf("PeakMemory = %d, %v", peak, err)
	}
	if err := g.Freeze(); err != nil {
		t.Fatal(err)
	}
	if err := g.Delete(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("process still running after Delete")
	}
	if err := g.Delete(); err != nil {
		t.Errorf("second Delete: %v", err)
	}
}

func TestAProcessOverTheMemoryLimitIsOOMKilled(t *testing.T) {
	m := liveManager(t)
	g, err := m.Create("oom", Limits{MemoryBytes: 32 << 20, Pids: 64})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Delete()
	exe, _ := os.Executable()
	// The hog is added to the group by the shell before it execs the test binary.
	cmd := exec.Command("/bin/sh", "-c", `read x; exec "$0"`, exe)
	cmd.Env = append(os.Environ(), "CGROUPS_TEST_HOG=1")
	in, _ := cmd.StdinPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if err := g.Add(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	in.Write([]byte("go\n"))
	err = cmd.Wait()
	if err == nil {
		t.Fatal("hog exited cleanly")
	}
	n, err := g.OOMKills()
	if err != nil || n < 1 {
		t.Fatalf("OOMKills = %d, %v (exit %v)", n, err, cmd.ProcessState)
	}
}

func TestPruneRemovesEmptyGroupsAndLeavesBusyOnes(t *testing.T) {
	m := liveManager(t)
	if _, err := m.Create("stale", ForFunction(128)); err != nil {
		t.Fatal(err)
	}
	busy, err := m.Create("busy", ForFunction(128))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		busy.Delete()
		cmd.Wait()
	}()
	if err := busy.Add(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	if err := m.Prune(); err != nil {
		t.Fatal(err)
	}
	if pids, err := busy.Procs(); err != nil || len(pids) != 1 {
		t.Fatalf("the busy group: %v, %v", pids, err)
	}
	again, err := m.Create("stale", ForFunction(128))
	if err != nil {
		t.Fatalf("the stale group was not removed: %v", err)
	}
	again.Delete()
}

// A sandbox's group is a sibling of the server's own, in every hierarchy, named with the
// prefix; on v2 the server itself may have moved into a leaf group beside it.
func TestASandboxGroupSitsBesideTheServer(t *testing.T) {
	m := liveManager(t)
	g, err := m.Create("beside", ForFunction(128))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Delete()
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	if err := g.Add(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	server, err := readProcCgroup("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	sandbox, err := readProcCgroup(fmt.Sprintf("/proc/%d/cgroup", cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	prefix := fmt.Sprintf("ember-test-%d", os.Getpid())
	controllers := v1Controllers
	if m.Version() == 2 {
		controllers = []string{""}
	}
	for _, c := range controllers {
		own := server[c]
		if m.Version() == 2 && filepath.Base(own) == serverLeaf {
			own = filepath.Dir(own)
		}
		if want := filepath.Join(own, prefix+"-beside"); sandbox[c] != want {
			t.Errorf("%q hierarchy: the sandbox is in %s, want %s (beside the server's %s)", c, sandbox[c], want, server[c])
		}
	}
}

// Peak memory is read through a file kept open: a later read still sees the group grow.
func TestPeakMemoryFollowsTheGroupThroughItsOpenFile(t *testing.T) {
	m := liveManager(t)
	g, err := m.Create("peak", ForFunction(256))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Delete()
	before, err := g.PeakMemory()
	if err != nil {
		t.Fatal(err)
	}
	// dd's 32 MiB buffer is filled from /dev/zero, so every page of it is touched.
	cmd := exec.Command("sh", "-c", "read go && exec dd if=/dev/zero of=/dev/null bs=32M count=2 status=none")
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if err := g.Add(cmd.Process.Pid); err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatal(err)
	}
	in.Write([]byte("go\n"))
	in.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	after, err := g.PeakMemory()
	if err != nil {
		t.Fatal(err)
	}
	if after < before+32<<20 {
		t.Errorf("PeakMemory went from %d to %d after a process in the group used 32 MiB", before, after)
	}
	if err := g.Delete(); err != nil {
		t.Fatalf("Delete with the peak file read: %v", err)
	}
}

// The burst of a lazy group is counted in CPU time, so its use must be counted while its
// processes run outside its CPU limit as well as held to it.
func TestALazyGroupsCPUUseIsCountedHeldOrNot(t *testing.T) {
	m := liveManager(t)
	g, err := m.Create("usage", Limits{CPUMilli: 1000, Pids: 64, CPULazy: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.CPUUsage(); errors.Is(err, ErrNoCPUUsage) {
		g.Delete()
		t.Skip("this host mounts cpuacct with cpu: a lazy group's use is not counted (the burst falls back to wall time)")
	}
	cmd := exec.Command("/bin/sh", "-c", `read x; while :; do :; done`)
	in, _ := cmd.StdinPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		g.Delete() // kills the spin
		cmd.Wait()
	}()
	if err := g.Add(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	in.Write([]byte("go\n"))
	for _, hold := range []bool{false, true} {
		if err := g.HoldCPU(hold); err != nil {
			t.Fatal(err)
		}
		before, err := g.CPUUsage()
		if err != nil {
			t.Fatal(err)
		}
		testenv.CheckFor(t, 60*time.Second, 10*time.Millisecond, func() error {
			now, err := g.CPUUsage()
			if err != nil {
				return err
			}
			if now-before < 20*time.Millisecond {
				return fmt.Errorf("held %v: %s of CPU counted so far", hold, now-before)
			}
			return nil
		})
	}
}

// BenchmarkCPUUsage measures the read burst mode makes at the start of every invocation.
func BenchmarkCPUUsage(b *testing.B) {
	m := liveManager(b)
	g, err := m.Create("usagebench", Limits{CPUMilli: 1000, CPULazy: true})
	if err != nil {
		b.Fatal(err)
	}
	defer g.Delete()
	for b.Loop() {
		if _, err := g.CPUUsage(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFreezeThaw measures what the worker pays to pause an idle sandbox and wake it for
// its next invoke. Another group is kept frozen, as the jail does, so the kernel's freezer
// code stays switched on.
func BenchmarkFreezeThaw(b *testing.B) {
	m := liveManager(b)
	keep, err := m.Create("keepfrozen", Limits{})
	if err != nil {
		b.Fatal(err)
	}
	defer keep.Delete()
	if err := keep.Freeze(); err != nil {
		b.Fatal(err)
	}
	g, err := m.Create("freezebench", Limits{})
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command("sleep", "600")
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		g.Delete()
		cmd.Wait()
	}()
	if err := g.Add(cmd.Process.Pid); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := g.Freeze(); err != nil {
			b.Fatal(err)
		}
		if err := g.Thaw(); err != nil {
			b.Fatal(err)
		}
	}
}
