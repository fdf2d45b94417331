//go:build linux

package gvisor

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ember-serverless/ember/internal/sandbox"
	"github.com/ember-serverless/ember/internal/sandbox/sandboxtest"
	"github.com/ember-serverless/ember/internal/testenv"
)

func TestMain(m *testing.M) {
	MaybeRunShim()
	os.Exit(m.Run())
}

// newTestBackend makes a backend with a private state directory and cgroup parent, or skips
// when the host cannot run gVisor.
func newTestBackend(t *testing.T) *Backend {
	t.Helper()
	state, cg := sandboxtest.StateDir(t, "ember-gvisor-")
	b, err := New(Config{StateDir: state, DebugLogDir: os.Getenv("EMBER_TEST_RUNSC_DEBUG"), Cgroups: cg}, nil)
	return sandboxtest.Opened(t, b, err, ErrUnsupported, "this host cannot run gVisor sandboxes (Debian package runsc)")
}

// leftovers reports what a destroyed sandbox left: its reserved id, a sandbox directory,
// runsc state naming it, or a runsc process.
func (b *Backend) leftovers(id string) []string {
	var out []string
	if b.ids.Has(id) {
		out = append(out, "a reserved id")
	}
	dir := b.dirOf(id)
	if _, err := os.Stat(dir); err == nil {
		out = append(out, "directory "+dir)
	}
	if ents, _ := os.ReadDir(b.runDir); len(ents) > 0 {
		for _, e := range ents {
			if strings.Contains(e.Name(), id) {
				out = append(out, "runsc state "+e.Name())
			}
		}
	}
	for _, p := range sandboxtest.Processes(func(c string) bool { return strings.HasPrefix(c, "runsc") && strings.Contains(c, dir+"\x00") }) {
		out = append(out, "process "+filepath.Base(p.Dir)+": "+strings.ReplaceAll(p.Cmdline, "\x00", " "))
	}
	return out
}

func TestGVisorPassesTheBackendConformanceSuite(t *testing.T) {
	b := newTestBackend(t)
	sandboxtest.Run(t, func(*testing.T) sandbox.Backend { return b },
		sandboxtest.Capabilities{Isolated: true, Leftovers: b.leftovers, ForkBombOOM: true})
}

func TestNewFailsClearlyWithoutRunsc(t *testing.T) {
	testenv.NeedRoot(t, "New checks for root before runsc")
	_, err := New(Config{StateDir: t.TempDir(), Runsc: "/nonexistent/runsc"}, nil)
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "runsc") {
		t.Fatalf("New = %v, want ErrUnsupported naming runsc", err)
	}
}

func TestConfigValidateRejectsWhatCannotWork(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"a relative state dir", Config{StateDir: "state"}},
		{"the kvm platform", Config{Platform: "kvm"}},
		{"a host dir that shadows /etc", Config{HostDirs: []string{"/etc"}}},
		{"a host dir that is not clean", Config{HostDirs: []string{"/usr/"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.cfg
			c.defaults()
			if err := c.Validate(); err == nil {
				t.Fatal("Validate accepted it")
			}
		})
	}
}

func TestGVisorContainsAHostileFunction(t *testing.T) {
	b := newTestBackend(t)
	sandboxtest.RunEscape(t, func(*testing.T) sandbox.Backend { return b },
		sandboxtest.Capabilities{Isolated: true, Leftovers: b.leftovers, ForkBombOOM: true,
			UserSpaceKernel: true, HostUIDs: b.hostUIDs})
}

// hostUIDs lists the host uids of runsc's sandbox process (the Sentry) and its ptrace stubs,
// which run the function: every uid on their status's Uid line.
func (b *Backend) hostUIDs(id string) []int {
	dir := b.dirOf(id)
	var out []int
	sentries := sandboxtest.Processes(func(c string) bool {
		return strings.HasPrefix(c, "runsc-sandbox\x00") && strings.Contains(c, dir+"\x00")
	})
	for _, p := range sentries {
		st, _ := os.ReadFile(filepath.Join(p.Dir, "status"))
		for _, line := range strings.Split(string(st), "\n") {
			if f, ok := strings.CutPrefix(line, "Uid:"); ok {
				for _, u := range strings.Fields(f) {
					if n, err := strconv.Atoi(u); err == nil {
						out = append(out, n)
					}
				}
			}
		}
	}
	return out
}

func TestCloseRemovesTheStateDirectoryAndLeavesNoCgroupWhenNoSandboxIsLeft(t *testing.T) {
	b := newTestBackend(t)
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := os.Stat(b.cfg.StateDir); !os.IsNotExist(err) {
		ents, _ := os.ReadDir(b.cfg.StateDir)
		t.Errorf("state dir still there (%v): %v", err, ents)
	}
	for _, root := range []string{"/sys/fs/cgroup/pids", "/sys/fs/cgroup"} {
		if left, _ := filepath.Glob(filepath.Join(root, b.cfg.Cgroups.Prefix+"-*")); len(left) > 0 {
			t.Errorf("cgroups left: %v", left)
		}
	}
}
