//go:build linux

package jail

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ember-serverless/ember/internal/runtimes"
	"github.com/ember-serverless/ember/internal/sandbox"
	"github.com/ember-serverless/ember/internal/sandbox/cgsandbox"
	"github.com/ember-serverless/ember/internal/sandbox/sandboxtest"
	"github.com/ember-serverless/ember/internal/testenv"
)

func TestMain(m *testing.M) {
	MaybeRunInit()
	os.Exit(m.Run())
}

// newTestBackend makes a backend with a private state directory and cgroup parent, or skips
// when the host cannot run jails.
func newTestBackend(t *testing.T) *Backend {
	t.Helper()
	return newTestBackendWith(t, Config{})
}

// newTestBackendWith is newTestBackend with cfg's other settings.
func newTestBackendWith(t *testing.T, cfg Config) *Backend {
	t.Helper()
	cfg.StateDir, cfg.Cgroups = sandboxtest.StateDir(t, "ember-jail-")
	cfg.ScratchDir = t.TempDir()
	b, err := New(cfg, nil)
	return sandboxtest.Opened(t, b, err, ErrUnsupported, "this host cannot run jails")
}

// leftovers reports what a destroyed sandbox left in the backend: its uid range, or any file
// in the state directory besides the empty root mount point, or in the scratch directory.
func (b *Backend) leftovers(id string) []string {
	var out []string
	b.mu.Lock()
	if b.ids[id] {
		out = append(out, "a reserved id and uid range")
	}
	b.mu.Unlock()
	ents, _ := os.ReadDir(b.cfg.StateDir)
	for _, e := range ents {
		if e.Name() != "root" {
			out = append(out, "file "+filepath.Join(b.cfg.StateDir, e.Name()))
		}
	}
	for _, d := range []string{b.rootDir, b.cfg.ScratchDir} {
		if ents, _ := os.ReadDir(d); len(ents) > 0 {
			out = append(out, "files in "+d)
		}
	}
	return out
}

func TestJailPassesTheBackendConformanceSuite(t *testing.T) {
	b := newTestBackend(t)
	sandboxtest.Run(t, func(*testing.T) sandbox.Backend { return b },
		sandboxtest.Capabilities{Isolated: true, Leftovers: b.leftovers})
}

func TestJailContainsAHostileFunction(t *testing.T) {
	b := newTestBackend(t)
	sandboxtest.RunEscape(t, func(*testing.T) sandbox.Backend { return b },
		sandboxtest.Capabilities{Isolated: true, Leftovers: b.leftovers})
}

func TestABootstrapShellScriptRunsWithTheSharedHostBinaries(t *testing.T) {
	b := newTestBackend(t)
	out := sandboxtest.CheckShellBootstrap(t, b)
	root := strings.Fields(out)
	for _, must := range []string{"dev", "etc", "opt", "proc", "tmp", "usr", "var"} {
		if !slices.Contains(root, must) {
			t.Errorf("/ lacks %s: %s", must, out)
		}
	}
}

func TestCreateRefusesAnInvalidSpec(t *testing.T) {
	b := newTestBackend(t)
	code := sandboxtest.CodeDir(t)
	_, w, _ := os.Pipe()
	defer w.Close()
	ok := sandbox.Spec{ID: "x", CodeDir: code, Command: []string{"/var/task/bootstrap"}, MemoryMB: 128, Output: w}
	tests := []struct {
		name   string
		change func(*sandbox.Spec)
	}{
		{"an id with a slash", func(s *sandbox.Spec) { s.ID = "a/b" }},
		{"no command", func(s *sandbox.Spec) { s.Command = nil }},
		{"no memory", func(s *sandbox.Spec) { s.MemoryMB = 0 }},
		{"a missing code dir", func(s *sandbox.Spec) { s.CodeDir = filepath.Join(code, "nope") }},
		{"no output", func(s *sandbox.Spec) { s.Output = nil }},
	}
	for _, tt := range tests {
		t.Run("it refuses "+tt.name, func(t *testing.T) {
			spec := ok
			tt.change(&spec)
			if _, err := b.Create(context.Background(), spec); !errors.Is(err, ErrInvalidSpec) {
				t.Fatalf("Create = %v, want ErrInvalidSpec", err)
			}
		})
	}
}

func TestStartReportsAMissingBootstrap(t *testing.T) {
	b := newTestBackend(t)
	code := sandboxtest.CodeDir(t)
	_, w, _ := os.Pipe()
	defer w.Close()
	sb, err := b.Create(context.Background(), sandbox.Spec{ID: "nobootstrap", CodeDir: code,
		Command: []string{"/var/task/bootstrap"}, MemoryMB: 128, Output: w})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Destroy(context.Background())
	if err := sb.Start(context.Background()); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("Start = %v, want an exec error", err)
	}
}

func TestANoisyNeighbourDoesNotStarveAQuietFunction(t *testing.T) {
	b := newTestBackend(t)
	sandboxtest.RunNeighbours(t, func(*testing.T) sandbox.Backend { return b },
		sandboxtest.Capabilities{Isolated: true, Leftovers: b.leftovers})
}

func TestTmpIsADiskOfEphemeralStorageSizeNotMemory(t *testing.T) {
	b := newTestBackend(t)
	if !b.TmpOnDisk() {
		if _, err := os.Stat("/dev/loop-control"); err != nil {
			testenv.Need(t, "no loop devices here, so /tmp is a tmpfs: %v", err)
		}
		t.Fatal("this host has loop devices, yet the backend fell back to a tmpfs /tmp (see its warning)")
	}
	// 128 MB of memory and 512 MB of /tmp: on a tmpfs, the function would be killed for its
	// memory long before /tmp is full.
	out := sandboxtest.RunScript(t, b, sandbox.Spec{ID: "tmpdisk", MemoryMB: 128, EphemeralStorageMB: 512}, `
stat -f -c 'fs=%T' /tmp
stat -c 'dev=%Hd:%Ld mode=%a' /tmp
echo "entries=$(ls -A /tmp | wc -l)"
dd if=/dev/zero of=/tmp/fill bs=1M 2>&1
echo "size=$(stat -c %s /tmp/fill)"
rm /tmp/fill && echo removed
`)
	for _, want := range []string{"fs=ext2/ext3", "mode=1777", "entries=0", "No space left on device", "removed"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	var size int64
	var major, minor string
	for _, f := range strings.Fields(out) {
		if v, ok := strings.CutPrefix(f, "size="); ok {
			fmt.Sscan(v, &size)
		}
		if v, ok := strings.CutPrefix(f, "dev="); ok {
			major, minor, _ = strings.Cut(v, ":")
		}
	}
	if size < 500<<20 || size > 512<<20 {
		t.Errorf("the function wrote %d MiB before ENOSPC into a 512 MB /tmp, want 500 to 512:\n%s", size>>20, out)
	}
	// The sandbox is gone (RunScript destroyed it): so is its loop device's backing file.
	bound := fmt.Sprintf("/sys/dev/block/%s:%s/loop", major, minor)
	if major == "" || major == "0" {
		t.Fatalf("no device number for /tmp in:\n%s", out)
	}
	testenv.CheckFor(t, 10*time.Second, 100*time.Millisecond, func() error {
		if _, err := os.Stat(bound); !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%s still exists after the sandbox was destroyed (%v): its loop device is still bound", bound, err)
		}
		return nil
	})
}

func TestLayersMergeIntoOptInOrderAndTheRuntimeDirIsMounted(t *testing.T) {
	b := newTestBackend(t)
	rt := sandboxtest.CodeDir(t)
	os.WriteFile(filepath.Join(rt, "runtime-file"), []byte("rt\n"), 0o644)
	b.cfg.RuntimeDirs = map[string]string{"provided.al2023": rt}
	mk := func(files map[string]string) string {
		d := sandboxtest.CodeDir(t)
		for n, c := range files {
			os.WriteFile(filepath.Join(d, n), []byte(c+"\n"), 0o644)
		}
		return d
	}
	one, two := mk(map[string]string{"shared": "one", "only1": "first"}), mk(map[string]string{"shared": "two", "only2": "second"})
	tests := []struct {
		name   string
		layers []string
		want   string
	}{
		{"no layer leaves /opt empty", nil, "empty"},
		{"one layer is /opt", []string{one}, "one first"},
		{"a later layer wins over an earlier one", []string{one, two}, "two first second"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := sandboxtest.RunScript(t, b, sandbox.Spec{ID: "layers", LayerDirs: tt.layers},
				`if [ -z "$(ls /opt)" ]; then echo empty; else echo $(cat /opt/shared /opt/only1 /opt/only2 2>/dev/null); fi
cat /var/runtime/runtime-file
touch /opt/x 2>/dev/null && echo opt-writable
ls -a / | grep -q layers && echo staging-left
true`)
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if len(lines) != 2 || lines[0] != tt.want || lines[1] != "rt" {
				t.Fatalf("output %q, want %q then rt", out, tt.want)
			}
		})
	}
}

func TestTheInitBoostEndsWhenTheWorkerSaysOrAtTheFirstFreeze(t *testing.T) {
	b := newTestBackend(t)
	code := sandboxtest.CodeDir(t)
	os.WriteFile(filepath.Join(code, "bootstrap"), []byte("#!/bin/sh\nexec sleep 60\n"), 0o755)
	_, w, _ := os.Pipe()
	defer w.Close()
	start := func(id string, mb int) *jailed {
		sb, err := b.Create(context.Background(), sandbox.Spec{ID: id, CodeDir: code, Command: []string{"/var/task/bootstrap"},
			Env: []string{"PATH=/usr/bin:/bin"}, MemoryMB: mb, Output: w})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { sb.Destroy(context.Background()) })
		if err := sb.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		return sb.(*jailed)
	}
	tests := []struct {
		name string
		mb   int
		end  func(s *jailed) error
	}{
		{"EndInitBoost ends it", 128, func(s *jailed) error { return sandbox.Sandbox(s).(sandbox.InitBooster).EndInitBoost() }},
		{"Freeze ends it", 128, func(s *jailed) error { return s.Freeze() }},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := start(fmt.Sprint("boost", i), tt.mb)
			if !s.Boosted() {
				t.Fatal("a 128 MB sandbox starts without the boost")
			}
			if err := tt.end(s); err != nil {
				t.Fatal(err)
			}
			if s.Boosted() {
				t.Fatal("still boosted")
			}
			if err := s.EndInitBoost(); err != nil {
				t.Fatalf("a second EndInitBoost: %v", err)
			}
		})
	}
	if s := start("big", 1769); s.Boosted() {
		t.Error("a sandbox whose memory buys a full vCPU is boosted")
	}
}

func TestAManagedRuntimeSeesItsInterpreterAndNothingElseOfTheHost(t *testing.T) {
	b := newTestBackend(t)
	rt, err := runtimes.Detect(context.Background(), nil).Lookup("python3.11")
	if err != nil {
		testenv.Need(t, "needs Python 3.11 at /usr/bin (Debian package python3): %v", err)
	}
	paths, err := rt.HostPaths()
	if err != nil {
		t.Fatal(err)
	}
	b.cfg.RuntimeHostPaths = map[string][]string{"python3.11": paths}
	script := `import os, json, ssl
print(json.dumps({p: os.path.exists(p) for p in ["/bin/sh", "/usr/bin/perl", "/usr/bin/node", "/usr/share", "/usr/bin/python3.11"]}))`
	out := sandboxtest.RunToExit(t, b, sandbox.Spec{ID: "rtroot", Runtime: "python3.11", CodeDir: sandboxtest.CodeDir(t),
		Command: []string{"/usr/bin/python3.11", "-c", script}, Env: []string{"PATH=/usr/bin"}, MemoryMB: 128})
	want := `{"/bin/sh": false, "/usr/bin/perl": false, "/usr/bin/node": false, "/usr/share": false, "/usr/bin/python3.11": true}`
	if strings.TrimSpace(out) != want {
		t.Errorf("the sandbox sees %s, want %s", out, want)
	}
}

// The init program given by Config.InitPath is checked: it runs as root in every sandbox.
func TestAnInitProgramOthersCouldWriteIsRefused(t *testing.T) {
	testenv.NeedRoot(t, "only root can make the root-owned init programs the checks compare")
	p := filepath.Join(t.TempDir(), "ember-init")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := openInit(p)
	if err != nil {
		t.Fatalf("a root-owned 0755 init: %v", err)
	}
	f.Close()
	os.Chmod(p, 0o777)
	if _, err := openInit(p); err == nil || !strings.Contains(err.Error(), "writable by no one else") {
		t.Errorf("a world-writable init = %v", err)
	}
	os.Chmod(p, 0o755)
	os.Chown(p, 1000, 1000)
	if _, err := openInit(p); err == nil {
		t.Error("an init owned by another user was accepted")
	}
	if _, err := New(Config{InitPath: "relative/ember-init"}, nil); err == nil {
		t.Error("a relative init path was accepted")
	}
}

// The spawner is every init's parent: if it dies, so do its sandboxes, their exits are
// reported, and the next Create starts another spawner.
func TestWhenTheSpawnerDiesItsSandboxesEndAndAnotherStarts(t *testing.T) {
	b := newTestBackend(t)
	run := func(id string) sandbox.Sandbox {
		t.Helper()
		sb, err := b.Create(context.Background(), sandbox.Spec{
			ID: id, Runtime: "provided.al2023", CodeDir: sandboxtest.CodeDir(t), Command: []string{"/bin/sleep", "60"},
			MemoryMB: 128, Output: os.Stderr,
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { sb.Destroy(context.Background()) })
		if err := sb.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		return sb
	}
	first := run("before")
	b.mu.Lock()
	old := b.spawner
	b.mu.Unlock()
	old.cmd.Process.Kill()
	select {
	case <-first.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("a sandbox outlived its spawner")
	}
	if st := first.Exit(); st.Signal == "" && st.Code == 0 {
		t.Errorf("exit of a sandbox whose spawner died = %+v", st)
	}
	second := run("after")
	b.mu.Lock()
	if b.spawner == old {
		t.Error("no new spawner was started")
	}
	b.mu.Unlock()
	select {
	case <-second.Done():
		t.Fatalf("the sandbox started by the new spawner ended: %+v", second.Exit())
	default:
	}
}

// cpuQuota reads the CPU bandwidth limit of the group process pid is in: v2's cpu.max quota,
// or v1's cpu.cfs_quota_us ("max" or "-1" for none).
func cpuQuota(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 {
			continue
		}
		if f[0] == "0" && f[1] == "" {
			if q, err := os.ReadFile(filepath.Join("/sys/fs/cgroup", f[2], "cpu.max")); err == nil {
				return strings.Fields(string(q))[0]
			}
			continue
		}
		for _, c := range strings.Split(f[1], ",") {
			if c != "cpu" {
				continue
			}
			for _, dir := range []string{f[1], "cpu", "cpu,cpuacct"} {
				if q, err := os.ReadFile(filepath.Join("/sys/fs/cgroup", dir, f[2], "cpu.cfs_quota_us")); err == nil {
					return strings.TrimSpace(string(q))
				}
			}
		}
	}
	t.Fatalf("no CPU controller for pid %d in %q", pid, b)
	return ""
}

func TestACPUUnboundedJailGivesItsSandboxesNoCPULimitButKeepsTheOthers(t *testing.T) {
	code := sandboxtest.CodeDir(t)
	os.WriteFile(filepath.Join(code, "bootstrap"), []byte("#!/bin/sh\nexec sleep 60\n"), 0o755)
	_, w, _ := os.Pipe()
	defer w.Close()
	for _, unbounded := range []bool{false, true} {
		t.Run(fmt.Sprint("unbounded=", unbounded), func(t *testing.T) {
			// Strict: in burst mode an idle sandbox runs outside its CPU group either way.
			b := newTestBackendWith(t, Config{CPUUnbounded: unbounded, InitBoost: -1, CPULimit: cgsandbox.CPULimitStrict})
			sb, err := b.Create(context.Background(), sandbox.Spec{ID: "cpu", CodeDir: code, Command: []string{"/var/task/bootstrap"},
				Env: []string{"PATH=/usr/bin:/bin"}, MemoryMB: 128, Output: w})
			if err != nil {
				t.Fatal(err)
			}
			defer sb.Destroy(context.Background())
			if err := sb.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			procs, err := sb.(*jailed).CG.Procs()
			if err != nil || len(procs) == 0 {
				t.Fatalf("procs %v, %v", procs, err)
			}
			q := cpuQuota(t, procs[0])
			none := q == "max" || q == "-1"
			if none != unbounded {
				t.Errorf("the 128 MB sandbox's CPU quota is %s", q)
			}
			if peak := sb.Stats().MaxMemoryBytes; peak <= 0 {
				t.Errorf("no memory accounting: peak %d", peak)
			}
		})
	}
}
