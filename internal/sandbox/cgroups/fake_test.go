package cgroups

import (
	"fmt"
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
	parent := t.TempDir()
	m := &v2Manager{parent: parent}
	g, err := m.Create("fn", ForFunction(128))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(parent, "fn")
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
	if n, err := g.PeakMemory(); err != nil || n != 4096 {
		t.Errorf("PeakMemory without memory.peak = %d, %v", n, err)
	}
	os.WriteFile(filepath.Join(dir, "memory.peak"), []byte("8192\n"), 0o644)
	if n, err := g.PeakMemory(); err != nil || n != 8192 {
		t.Errorf("PeakMemory = %d, %v", n, err)
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
	m := &v1Manager{parents: map[string]string{}}
	for _, c := range v1Controllers {
		m.parents[c] = filepath.Join(root, c, "ember")
		os.MkdirAll(m.parents[c], 0o755)
	}
	g, err := m.Create("fn", ForFunction(1769))
	if err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{
		"memory/ember/fn/memory.limit_in_bytes": "1854930944",
		"cpu/ember/fn/cpu.cfs_quota_us":         "100000",
		"cpu/ember/fn/cpu.cfs_period_us":        "100000",
		"cpu/ember/fn/cpu.shares":               "1024",
		"pids/ember/fn/pids.max":                "1024",
	} {
		if got := read(t, filepath.Join(root, file)); got != want {
			t.Errorf("%s = %q, want %q", file, got, want)
		}
	}
	os.WriteFile(filepath.Join(root, "memory/ember/fn/memory.oom_control"), []byte("oom_kill_disable 0\nunder_oom 0\noom_kill 1\n"), 0o644)
	if n, err := g.OOMKills(); err != nil || n != 1 {
		t.Errorf("OOMKills = %d, %v", n, err)
	}
}

func TestTheParentsWeighAsMuchAsTheirSandboxesTogether(t *testing.T) {
	root := t.TempDir()
	m := &v1Manager{parents: map[string]string{}}
	for _, c := range v1Controllers {
		m.parents[c] = filepath.Join(root, c, "ember", "server")
		os.MkdirAll(m.parents[c], 0o755)
	}
	m.weights = newWeigher("cpu.shares", m.parents["cpu"], "ember/server", 1024, 262144)
	shares := func() (string, string) {
		return read(t, filepath.Join(root, "cpu/ember/server/cpu.shares")), read(t, filepath.Join(root, "cpu/ember/cpu.shares"))
	}
	var groups []Group
	for i := 0; i < 3; i++ {
		g, err := m.Create(fmt.Sprint("fn", i), ForFunction(1769))
		if err != nil {
			t.Fatal(err)
		}
		groups = append(groups, g)
	}
	if s, e := shares(); s != "3072" || e != "3072" {
		t.Errorf("with three 1-vCPU sandboxes the parents weigh %s and %s, want 3072 each", s, e)
	}
	groups[0].SetCPU(2000)
	if s, _ := shares(); s != "4096" {
		t.Errorf("after one sandbox doubled its CPU the parent weighs %s, want 4096", s)
	}
	groups[0].Delete() // the fake tree cannot be removed; what it weighed is gone all the same
	groups[1].Delete()
	if s, _ := shares(); s != "1024" {
		t.Errorf("with one sandbox left the parent weighs %s, want 1024", s)
	}
	if _, err := os.Stat(filepath.Join(root, "cpu/cpu.shares")); err == nil {
		t.Error("the server's own group's weight was written")
	}
}
