package sandboxtest

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ember-serverless/ember/internal/sandbox"
)

// RunToExit creates a sandbox from spec, starts it, waits for its command to end, destroys it
// and returns all it wrote; the test fails unless the command exits 0. It sets spec.Output.
// It serves no Runtime API: the command is a script or a program, not a runtime.
func RunToExit(t testing.TB, b sandbox.Backend, spec sandbox.Spec) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	out := make(chan []byte, 1)
	go func() {
		defer r.Close()
		b, _ := io.ReadAll(r)
		out <- b
	}()
	spec.Output = w
	sb, err := b.Create(context.Background(), spec)
	if err != nil {
		w.Close()
		t.Fatal(err)
	}
	if err := sb.Start(context.Background()); err != nil {
		sb.Destroy(context.Background())
		w.Close()
		t.Fatal(err)
	}
	<-sb.Done()
	// A backend may hold the output until the sandbox is destroyed (a VM's console): only
	// then has everything been written.
	sb.Destroy(context.Background())
	w.Close()
	got := <-out
	if st := sb.Exit(); st.Code != 0 {
		t.Fatalf("exit %+v, output:\n%s", st, got)
	}
	return string(got)
}

// RunScript runs script (a shell script without its #! line) as the bootstrap of a sandbox
// made from spec and returns its output, as RunToExit does. Unset, spec's code directory is a
// new one, its runtime provided.al2023 and its memory 128 MB; its command is always the
// bootstrap, with /usr/bin and /bin on its PATH.
func RunScript(t testing.TB, b sandbox.Backend, spec sandbox.Spec, script string) string {
	t.Helper()
	if spec.CodeDir == "" {
		spec.CodeDir = CodeDir(t)
	}
	if err := os.WriteFile(filepath.Join(spec.CodeDir, "bootstrap"), []byte("#!/bin/sh\n"+script), 0o755); err != nil {
		t.Fatal(err)
	}
	if spec.Runtime == "" {
		spec.Runtime = "provided.al2023"
	}
	if spec.MemoryMB == 0 {
		spec.MemoryMB = 128
	}
	spec.Command, spec.Env = []string{"/var/task/bootstrap"}, []string{"PATH=/usr/bin:/bin"}
	return RunToExit(t, b, spec)
}

// CheckShellBootstrap runs a shell script bootstrap in a sandbox of b and checks what an
// isolating backend promises it: it runs as the function's user and group (993:990) in
// /var/task, on host "localhost", with a writable /tmp. It returns the script's output, which
// ends with a listing of the sandbox's /, for the backend's own checks.
func CheckShellBootstrap(t testing.TB, b sandbox.Backend) string {
	t.Helper()
	out := RunScript(t, b, sandbox.Spec{ID: "shell", EphemeralStorageMB: 16},
		"echo \"uid=$(id -u) gid=$(id -g) host=$(hostname) pwd=$(pwd)\"\necho tmp-ok > /tmp/x && cat /tmp/x\nls /\n")
	for _, want := range []string{"uid=993 gid=990 host=localhost pwd=/var/task", "tmp-ok"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	return out
}
