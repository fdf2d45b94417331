//go:build linux

package jail

import (
	"context"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/ember-serverless/ember/internal/sandbox"
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
	var took []time.Duration
	for i := 0; b.Loop(); i++ {
		t0 := time.Now()
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
		took = append(took, time.Since(t0))
		b.StopTimer()
		api.Close()
		sb.Destroy(ctx)
		b.StartTimer()
	}
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2])/1e6, "p50-ms")
	b.ReportMetric(float64(took[len(took)*9/10])/1e6, "p90-ms")
}

func newBenchBackend(b *testing.B) *Backend {
	state, cg := sandboxtest.StateDir(b, "ember-jail-")
	be, err := New(Config{StateDir: state, Cgroups: cg}, nil)
	if err != nil {
		b.Skipf("this host cannot run jails: %v", err)
	}
	b.Cleanup(func() { be.Close() })
	return be
}
