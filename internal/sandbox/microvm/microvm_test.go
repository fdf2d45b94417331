//go:build linux && amd64

package microvm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ember-serverless/ember/internal/gobuild"
	"github.com/ember-serverless/ember/internal/sandbox"
	"github.com/ember-serverless/ember/internal/sandbox/sandboxtest"
	"github.com/ember-serverless/ember/internal/testenv"
)

// KernelEnv names the guest kernel's directory for the tests; without it they boot the one
// scripts/setup unpacks into .cache/vmtest/kernel.
const kernelEnv = "EMBER_VMTEST_KERNEL"

var (
	agentOnce sync.Once
	agentPath string
	agentErr  error
	agentDir  string
)

// testAgent builds cmd/ember-vmagent once per test binary.
func testAgent(t *testing.T) string {
	agentOnce.Do(func() {
		agentDir, agentErr = os.MkdirTemp("", "ember-vmagent-")
		if agentErr == nil {
			agentPath = filepath.Join(agentDir, AgentProgram)
			agentErr = gobuild.Static(agentPath, "cmd/ember-vmagent")
		}
	})
	if agentErr != nil {
		t.Fatal(agentErr)
	}
	return agentPath
}

func TestMain(m *testing.M) {
	// The tests boot their VMs under QEMU's TCG (an emulated CPU, several times slower than
	// KVM): the shared suites' deadlines, which only catch hangs, are scaled for it.
	if os.Getenv(testenv.TimeScaleEnv) == "" {
		os.Setenv(testenv.TimeScaleEnv, "4")
	}
	code := m.Run()
	if agentDir != "" {
		os.RemoveAll(agentDir)
	}
	os.Exit(code)
}

var (
	backendOnce sync.Once
	backend     *Backend
	backendErr  error
	cacheDir    string
)

// newTestBackend returns the package's backend (made once: the root image takes a while), or
// skips saying why this host cannot run microVMs — or fails, under CI, where scripts/setup
// should have installed QEMU and the kernel.
func newTestBackend(t *testing.T) *Backend {
	t.Helper()
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		testenv.Need(t, "needs qemu-system-x86_64 (Debian package qemu-system-x86; scripts/setup installs it): %v", err)
	}
	kernel := os.Getenv(kernelEnv)
	if kernel == "" {
		kernel = filepath.Join(gobuild.ModuleRoot(), ".cache", "vmtest", "kernel")
	}
	if _, err := os.Stat(filepath.Join(kernel, "vmlinux")); err != nil {
		testenv.Need(t, "needs a guest kernel in %s (scripts/setup unpacks Debian's cloud kernel there)", kernel)
	}
	agent := testAgent(t)
	backendOnce.Do(func() {
		base := filepath.Join(os.TempDir(), "ember-microvm-test")
		cacheDir = filepath.Join(base, "cache") // kept between runs: the root image is slow to make
		state, err := os.MkdirTemp("", "ember-microvm-state-")
		if err != nil {
			backendErr = err
			return
		}
		backend, backendErr = New(Config{
			KernelDir: kernel,
			AgentPath: agent,
			StateDir:  state,
			CacheDir:  cacheDir,
			Accel:     "tcg",
		}, nil)
	})
	if errors.Is(backendErr, ErrUnsupported) {
		testenv.Need(t, "%v", backendErr)
	}
	if backendErr != nil {
		t.Fatal(backendErr)
	}
	return backend
}

// leftovers reports what a destroyed sandbox left: its reserved id, its VM's directory or RAM
// file, or a QEMU process.
func (b *Backend) leftovers(id string) []string {
	var out []string
	if b.ids.Has(id) {
		out = append(out, "a reserved id")
	}
	if _, err := os.Stat(filepath.Join(b.cfg.StateDir, "vm-"+id)); err == nil {
		out = append(out, "the VM's directory")
	}
	if m, _ := filepath.Glob(filepath.Join(b.cfg.MemDir, "ember-vm-*-"+id+".mem")); len(m) > 0 {
		out = append(out, "RAM file "+m[0])
	}
	for _, p := range sandboxtest.Processes(func(c string) bool { return strings.Contains(c, "vm-"+id+"/") }) {
		out = append(out, "process "+filepath.Base(p.Dir))
	}
	return out
}

func TestMicroVMPassesTheBackendConformanceSuite(t *testing.T) {
	b := newTestBackend(t)
	sandboxtest.Run(t, func(*testing.T) sandbox.Backend { return b },
		sandboxtest.Capabilities{Isolated: true, Leftovers: b.leftovers})
}

func TestMicroVMContainsAHostileFunction(t *testing.T) {
	b := newTestBackend(t)
	sandboxtest.RunEscape(t, func(*testing.T) sandbox.Backend { return b },
		sandboxtest.Capabilities{Isolated: true, Leftovers: b.leftovers})
}

func TestABootstrapShellScriptRunsInTheGuestsJail(t *testing.T) {
	b := newTestBackend(t)
	sandboxtest.CheckShellBootstrap(t, b)
}

// startKeyed creates and starts a sandbox of the test function with a snapshot key, serving
// its Runtime API, and registers its destruction.
func startKeyed(t *testing.T, b *Backend, code, id, key string) (sandbox.Sandbox, *sandboxtest.RuntimeAPI) {
	t.Helper()
	r, w, _ := os.Pipe()
	go io.Copy(io.Discard, r)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	sb, err := b.Create(ctx, sandbox.Spec{
		ID: id, Runtime: "provided.al2023", CodeDir: code, Command: []string{"/var/task/bootstrap"},
		Env: []string{"PATH=/usr/bin:/bin"}, MemoryMB: 128, EphemeralStorageMB: 64, Output: w, SnapshotKey: key,
	})
	if err != nil {
		w.Close()
		t.Fatal(err)
	}
	api := sandboxtest.ServeRuntimeAPI(sb.RuntimeAPI())
	t.Cleanup(func() {
		api.Close()
		sb.Destroy(context.Background())
		w.Close()
		r.Close()
	})
	if err := sb.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return sb, api
}

func invoke(t *testing.T, sb sandbox.Sandbox, api *sandboxtest.RuntimeAPI, ev sandboxtest.Event) sandboxtest.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b, _ := json.Marshal(ev)
	resp, err := api.Invoke(ctx, sb.Done(), b)
	if err != nil || resp.Error {
		t.Fatalf("invoke %s: %v %s", ev.Op, err, resp.Payload)
	}
	var res sandboxtest.Result
	if err := json.Unmarshal(resp.Payload, &res); err != nil {
		t.Fatal(err)
	}
	return res
}

func TestClonesOfOneSnapshotAnswerAndDoNotShareSecretsMadeAfterRestore(t *testing.T) {
	b := newTestBackend(t)
	code := sandboxtest.BuildRuntime(t)
	key := fmt.Sprintf("clones-%d", os.Getpid())
	t.Cleanup(b.dropSnapshots)

	orig, origAPI := startKeyed(t, b, code, "snap-orig", key)
	before := invoke(t, orig, origAPI, sandboxtest.Event{Op: "random"}).Value
	if err := orig.(sandbox.Snapshotter).Snapshot(context.Background()); err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	if !b.HasSnapshot(key) {
		t.Fatal("no snapshot after Snapshot")
	}
	secrets := map[string]string{}
	if got := invoke(t, orig, origAPI, sandboxtest.Event{Op: "echo", Value: "after"}); got.Value != "after" {
		t.Fatalf("the snapshotted sandbox answered %+v", got)
	}
	secrets["snap-orig"] = invoke(t, orig, origAPI, sandboxtest.Event{Op: "random"}).Value
	for _, id := range []string{"snap-clone-1", "snap-clone-2"} {
		sb, api := startKeyed(t, b, code, id, key)
		if d := sb.(sandbox.Restorer).RestoreDuration(); d <= 0 {
			t.Errorf("%s: RestoreDuration = %v, want it restored", id, d)
		} else {
			t.Logf("%s restored in %v", id, d)
		}
		if got := invoke(t, sb, api, sandboxtest.Event{Op: "echo", Value: id}); got.Value != id {
			t.Fatalf("%s answered %+v", id, got)
		}
		secrets[id] = invoke(t, sb, api, sandboxtest.Event{Op: "random"}).Value
	}
	seen := map[string]string{before: "snap-orig before the snapshot"}
	for id, s := range secrets {
		if len(s) != 32 {
			t.Fatalf("%s made secret %q", id, s)
		}
		if other, dup := seen[s]; dup {
			t.Errorf("%s and %s made the same secret %s", id, other, s)
		}
		seen[s] = id
	}
}
