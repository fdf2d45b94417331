package sandboxtest

import (
	"net"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/ember-serverless/ember/internal/sandbox"
)

// RunNeighbours checks that a function which hogs memory, forks without bound and spins on
// every CPU it is given does not starve another: the quiet function's warm p99 stays within
// twice its quiet value (plus 10 ms of scheduling slack), and a server on the
// host keeps answering. Timing on a shared machine is noisy, so a failed comparison is
// measured again, up to five times, before it counts.
func RunNeighbours(t *testing.T, newBackend func(t *testing.T) sandbox.Backend, caps Capabilities) {
	if testing.Short() {
		t.Skip("measures latency under load; skipped in -short")
	}
	if !caps.Isolated {
		t.Skip("the backend does not isolate")
	}
	h := &Harness{Backend: newBackend(t), Caps: caps, CodeDir: BuildRuntime(t)}
	quiet := h.Start(t, Options{MemoryMB: 512})
	sample := func(n int) []time.Duration {
		d := make([]time.Duration, 0, n)
		for range n {
			t0 := time.Now()
			quiet.Invoke(t, Event{Op: "echo", Value: "q"})
			d = append(d, time.Since(t0))
		}
		return d
	}
	sample(100) // warm up

	noisy := h.Start(t, Options{MemoryMB: 512})
	// Fork first, while the heap is small (children copy the parent's page tables), and
	// leave the runtime a few pids for the threads it starts later.
	forks := noisy.Invoke(t, Event{Op: "fork", Code: 960})
	noisy.Invoke(t, Event{Op: "alloc", MB: 200})
	noisy.Invoke(t, Event{Op: "spin", Code: 8})
	t.Logf("the noisy neighbour holds %d more processes, 200 MB and 8 spinning threads", forks.Count)

	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()
	t0 := time.Now()
	resp, err := http.Get("http://" + ln.Addr().String())
	if err != nil {
		t.Fatalf("the host server did not answer: %v", err)
	}
	resp.Body.Close()
	if d := time.Since(t0); d > 2*time.Second {
		t.Errorf("the host server took %v to answer", d)
	}

	// Quiet and loaded windows alternate (the neighbour frozen, then running), so that load
	// from elsewhere on the machine weighs on both alike.
	p99 := func(d []time.Duration) time.Duration { slices.Sort(d); return d[len(d)*99/100] }
	const slack = 10 * time.Millisecond
	for attempt := 1; ; attempt++ {
		var calm, loaded []time.Duration
		for range 5 {
			if err := noisy.Sandbox.Freeze(); err != nil {
				t.Fatal(err)
			}
			calm = append(calm, sample(60)...)
			if err := noisy.Sandbox.Thaw(); err != nil {
				t.Fatal(err)
			}
			loaded = append(loaded, sample(60)...)
		}
		before, during := p99(calm), p99(loaded)
		t.Logf("attempt %d: warm p99 %v with the neighbour frozen, %v with it running", attempt, before, during)
		if during <= 2*before+slack {
			return
		}
		if attempt == 5 {
			t.Fatalf("warm p99 went from %v to %v beside a noisy neighbour", before, during)
		}
	}
}
