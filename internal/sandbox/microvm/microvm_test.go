//go:build linux && amd64

package microvm

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

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
	b.mu.Lock()
	if b.ids[id] {
		out = append(out, "a reserved id")
	}
	b.mu.Unlock()
	if _, err := os.Stat(filepath.Join(b.cfg.StateDir, "vm-"+id)); err == nil {
		out = append(out, "the VM's directory")
	}
	if m, _ := filepath.Glob(filepath.Join(b.cfg.MemDir, "ember-vm-*-"+id+".mem")); len(m) > 0 {
		out = append(out, "RAM file "+m[0])
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		if c, err := os.ReadFile(p); err == nil && strings.Contains(string(c), "vm-"+id+"/") {
			out = append(out, "process "+filepath.Base(filepath.Dir(p)))
		}
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
	code := sandboxtest.CodeDir(t)
	script := "#!/bin/sh\necho \"uid=$(id -u) gid=$(id -g) host=$(hostname) pwd=$(pwd)\"\necho tmp-ok > /tmp/x && cat /tmp/x\n"
	if err := os.WriteFile(filepath.Join(code, "bootstrap"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	r, w, _ := os.Pipe()
	defer r.Close()
	sb, err := b.Create(context.Background(), sandbox.Spec{
		ID: "shell", Runtime: "provided.al2023", CodeDir: code, Command: []string{"/var/task/bootstrap"},
		Env: []string{"PATH=/usr/bin:/bin"}, MemoryMB: 128, EphemeralStorageMB: 16, Output: w,
	})
	if err != nil {
		w.Close()
		t.Fatal(err)
	}
	defer sb.Destroy(context.Background())
	if err := sb.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	<-sb.Done()
	sb.Destroy(context.Background())
	w.Close()
	out, _ := io.ReadAll(r)
	if st := sb.Exit(); st.Code != 0 {
		t.Fatalf("exit %+v, output:\n%s", st, out)
	}
	for _, want := range []string{"uid=993 gid=990 host=localhost pwd=/var/task", "tmp-ok"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
