package cgroups

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func read(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// checkFiles checks that each file below dir holds what want says.
func checkFiles(t *testing.T, dir string, want map[string]string) {
	t.Helper()
	for file, w := range want {
		if got := read(t, filepath.Join(dir, file)); got != w {
			t.Errorf("%s = %q, want %q", file, got, w)
		}
	}
}

// On a plain directory standing in for cgroupfs, the files a group's limits are written to
// can be checked without root or a particular kernel.
func TestV2WritesLambdaLimitsIntoTheGroupsFiles(t *testing.T) {
	own := t.TempDir()
	m := &v2Manager{own: own, prefix: "ember-x"}
	g, err := m.Create("fn", ForFunction(128))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(own, "ember-x-fn")
	checkFiles(t, dir, map[string]string{
		"memory.max":       "134217728",
		"memory.oom.group": "1",
		"cpu.weight":       "7",
		"cpu.max":          "7200 100000",
		"pids.max":         "1024",
	})
	os.WriteFile(filepath.Join(dir, "memory.events"), []byte("low 0\nhigh 0\nmax 3\noom 1\noom_kill 2\n"), 0o644)
	if n, err := g.OOMKills(); err != nil || n != 2 {
		t.Errorf("OOMKills = %d, %v", n, err)
	}
	os.WriteFile(filepath.Join(dir, "memory.current"), []byte("4096\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "memory.peak"), []byte("8192\n"), 0o644)
	if n, err := g.PeakMemory(); err != nil || n != 8192 {
		t.Errorf("PeakMemory = %d, %v", n, err)
	}
	// The file stays open between reads; each read sees what it holds now.
	os.WriteFile(filepath.Join(dir, "memory.peak"), []byte("12288\n"), 0o644)
	if n, err := g.PeakMemory(); err != nil || n != 12288 {
		t.Errorf("PeakMemory after it grew = %d, %v", n, err)
	}
	old, err := m.Create("old-kernel", ForFunction(128))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(own, "ember-x-old-kernel", "memory.current"), []byte("4096\n"), 0o644)
	if n, err := old.PeakMemory(); err != nil || n != 4096 {
		t.Errorf("PeakMemory without memory.peak = %d, %v", n, err)
	}
	os.WriteFile(filepath.Join(dir, "cgroup.events"), []byte("populated 0\nfrozen 1\n"), 0o644)
	if err := g.Freeze(); err != nil {
		t.Errorf("Freeze: %v", err)
	}
	if got := read(t, filepath.Join(dir, "cgroup.freeze")); got != "1" {
		t.Errorf("cgroup.freeze = %q", got)
	}
}

func TestV1WritesLambdaLimitsIntoEachHierarchy(t *testing.T) {
	root := t.TempDir()
	m := &v1Manager{own: map[string]string{}, prefix: "ember"}
	for _, c := range v1Controllers {
		m.own[c] = filepath.Join(root, c, "server")
		os.MkdirAll(m.own[c], 0o755)
	}
	g, err := m.Create("fn", ForFunction(1769))
	if err != nil {
		t.Fatal(err)
	}
	checkFiles(t, root, map[string]string{
		"memory/server/ember-fn/memory.limit_in_bytes": "1854930944",
		"cpu/server/ember-fn/cpu.cfs_quota_us":         "100000",
		"cpu/server/ember-fn/cpu.cfs_period_us":        "100000",
		"cpu/server/ember-fn/cpu.shares":               "1024",
		"pids/server/ember-fn/pids.max":                "1024",
	})
	os.WriteFile(filepath.Join(root, "memory/server/ember-fn/memory.oom_control"), []byte("oom_kill_disable 0\nunder_oom 0\noom_kill 1\n"), 0o644)
	if n, err := g.OOMKills(); err != nil || n != 1 {
		t.Errorf("OOMKills = %d, %v", n, err)
	}
}

func TestAV2GroupWithALazyCPULimitHasNoQuotaUntilHeld(t *testing.T) {
	own := t.TempDir()
	m := &v2Manager{own: own, prefix: "ember-x"}
	l := ForFunction(128)
	l.CPULazy = true
	g, err := m.Create("fn", l)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(own, "ember-x-fn")
	steps := []struct {
		name       string
		do         func() error
		max, weigh string
	}{
		{"made lazy, it has its weight and no quota", func() error { return nil }, "max 100000", "7"},
		{"held, it has its quota", func() error { return g.HoldCPU(true) }, "7200 100000", "7"},
		{"held, a new CPU changes the quota", func() error { return g.SetCPU(1000) }, "100000 100000", "100"},
		{"released, it has no quota again", func() error { return g.HoldCPU(false) }, "max 100000", "100"},
		{"released, a new CPU changes only the weight", func() error { return g.SetCPU(72) }, "max 100000", "7"},
		{"held again, it has the new quota", func() error { return g.HoldCPU(true) }, "7200 100000", "7"},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if got := read(t, filepath.Join(dir, "cpu.max")); got != st.max {
			t.Errorf("%s: cpu.max = %q, want %q", st.name, got, st.max)
		}
		if got := read(t, filepath.Join(dir, "cpu.weight")); got != st.weigh {
			t.Errorf("%s: cpu.weight = %q, want %q", st.name, got, st.weigh)
		}
	}
	os.WriteFile(filepath.Join(dir, "cpu.stat"), []byte("usage_usec 10\nnr_periods 5\nnr_throttled 2\nthrottled_usec 1500\n"), 0o644)
	if st, err := g.CPUStat(); err != nil || st != (CPUStat{Periods: 5, Throttled: 2, ThrottledTime: 1500 * time.Microsecond}) {
		t.Errorf("CPUStat = %+v, %v", st, err)
	}
}
