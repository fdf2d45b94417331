package cgroups

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func read(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
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
	for file, want := range map[string]string{
		"memory.max":       "134217728",
		"memory.oom.group": "1",
		"cpu.weight":       "7",
		"cpu.max":          "7200 100000",
		"pids.max":         "1024",
	} {
		if got := read(t, filepath.Join(dir, file)); got != want {
			t.Errorf("%s = %q, want %q", file, got, want)
		}
	}
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
	for file, want := range map[string]string{
		"memory/server/ember-fn/memory.limit_in_bytes": "1854930944",
		"cpu/server/ember-fn/cpu.cfs_quota_us":         "100000",
		"cpu/server/ember-fn/cpu.cfs_period_us":        "100000",
		"cpu/server/ember-fn/cpu.shares":               "1024",
		"pids/server/ember-fn/pids.max":                "1024",
	} {
		if got := read(t, filepath.Join(root, file)); got != want {
			t.Errorf("%s = %q, want %q", file, got, want)
		}
	}
	os.WriteFile(filepath.Join(root, "memory/server/ember-fn/memory.oom_control"), []byte("oom_kill_disable 0\nunder_oom 0\noom_kill 1\n"), 0o644)
	if n, err := g.OOMKills(); err != nil || n != 1 {
		t.Errorf("OOMKills = %d, %v", n, err)
	}
}
