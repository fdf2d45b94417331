//go:build linux

package jail

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/ember-serverless/ember/internal/sandbox"
	"github.com/ember-serverless/ember/internal/sandbox/cgroups"
	"github.com/ember-serverless/ember/internal/sandbox/sandboxtest"
)

// BenchmarkColdStart measures what a cold invoke costs the jail: Create, Start, the Go
// function's first answer, and Destroy (reported separately as destroy-ms).
func BenchmarkColdStart(b *testing.B) {
	backend := newBenchBackend(b)
	code := sandboxtest.BuildRuntime(b)
	for _, mb := range []int{128, 1769} {
		b.Run(fmt.Sprintf("%dMB", mb), func(b *testing.B) { benchColdStart(b, backend, code, mb) })
	}
}

func benchColdStart(b *testing.B, backend *Backend, code string, memoryMB int) {
	_, w, _ := os.Pipe()
	defer w.Close()
	ctx := context.Background()
	for i := 0; b.Loop(); i++ {
		sb, err := backend.Create(ctx, sandbox.Spec{ID: fmt.Sprint("bench-", i), CodeDir: code,
			Command: []string{"/var/task/bootstrap"}, MemoryMB: memoryMB, EphemeralStorageMB: 512, Output: w})
		if err != nil {
			b.Fatal(err)
		}
		api := sandboxtest.ServeRuntimeAPI(sb.RuntimeAPI())
		if err := sb.Start(ctx); err != nil {
			b.Fatal(err)
		}
		if _, err := api.Invoke(ctx, sb.Done(), []byte(`{"op":"echo","value":"x"}`)); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		api.Close()
		sb.Destroy(ctx)
		b.StartTimer()
	}
}

func newBenchBackend(b *testing.B) *Backend {
	state, err := os.MkdirTemp("", "ember-jail-")
	if err != nil {
		b.Fatal(err)
	}
	os.Chmod(state, 0o755)
	b.Cleanup(func() { os.RemoveAll(state) })
	be, err := New(Config{StateDir: state, Cgroups: cgroups.Config{Parent: fmt.Sprintf("ember-bench-%d", os.Getpid())}}, nil)
	if err != nil {
		b.Skipf("this host cannot run jails: %v", err)
	}
	b.Cleanup(func() { be.Close() })
	return be
}
