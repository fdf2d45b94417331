package placement_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/ember-serverless/ember/internal/assign"
	"github.com/ember-serverless/ember/internal/invoke"
	"github.com/ember-serverless/ember/internal/lambdaerr"
	"github.com/ember-serverless/ember/internal/placement"
	"github.com/ember-serverless/ember/internal/worker"
)

// fakeWorker holds sandboxes of a given memory; NewSandbox adds the spec's memory and makes
// no real sandbox.
type fakeWorker struct{ mb atomic.Int64 }

func (w *fakeWorker) MemoryMB() int64 { return w.mb.Load() }
func (w *fakeWorker) NewSandbox(_ context.Context, spec invoke.SandboxSpec) (*worker.Sandbox, error) {
	w.mb.Add(int64(spec.MemoryMB))
	return nil, nil
}

func spec(code string, mb int) invoke.SandboxSpec {
	return invoke.SandboxSpec{FunctionName: code, CodeDir: "/code/" + code, MemoryMB: mb}
}

// place places spec and makes its sandbox, returning the worker it went on (-1: refused).
func place(t *testing.T, p *placement.Pack, ws []*fakeWorker, s invoke.SandboxSpec) (int, error) {
	t.Helper()
	before := make([]int64, len(ws))
	for i, w := range ws {
		before[i] = w.MemoryMB()
	}
	h, err := p.Place(context.Background(), s)
	if err != nil {
		return -1, err
	}
	h.NewSandbox(context.Background(), s)
	for i, w := range ws {
		if w.MemoryMB() != before[i] {
			return i, nil
		}
	}
	t.Fatal("the host placement returned made no sandbox")
	return -1, nil
}

func newPack(t *testing.T, n int, capacity, reserve, avail int64) (*placement.Pack, []*fakeWorker) {
	t.Helper()
	ws := make([]*fakeWorker, n)
	pws := make([]placement.Worker, n)
	for i := range ws {
		ws[i] = &fakeWorker{}
		pws[i] = ws[i]
	}
	p, err := placement.NewPack(placement.Config{Workers: pws, CapacityMB: capacity, ReserveMB: reserve,
		Available: func() (int64, error) { return avail, nil }})
	if err != nil {
		t.Fatal(err)
	}
	return p, ws
}

func TestPackPlacesByMemory(t *testing.T) {
	t.Run("sandboxes fill the fullest worker that has room before an empty one", func(t *testing.T) {
		p, ws := newPack(t, 3, 1024, 0, 1<<20)
		for range 4 {
			if i, err := place(t, p, ws, spec("a", 256)); err != nil || i != 0 {
				t.Fatalf("placed on %d (%v), want worker 0 until it is full", i, err)
			}
		}
		if i, _ := place(t, p, ws, spec("b", 256)); i == 0 {
			t.Errorf("a sandbox went on a full worker")
		}
	})
	t.Run("a worker that has the function's code is preferred to a fuller one", func(t *testing.T) {
		p, ws := newPack(t, 2, 1024, 0, 1<<20)
		ws[0].mb.Store(512) // someone else's
		place(t, p, ws, spec("other", 128))
		ws[1].mb.Store(0)
		// Put "mine" on worker 1 by filling worker 0 for a moment.
		ws[0].mb.Store(1024)
		if i, _ := place(t, p, ws, spec("mine", 128)); i != 1 {
			t.Fatalf("placed on %d, want 1", i)
		}
		ws[0].mb.Store(512)
		if i, _ := place(t, p, ws, spec("mine", 128)); i != 1 {
			t.Errorf("placed on %d, want worker 1, which has mine's code, over the fuller worker 0", i)
		}
	})
	t.Run("a sandbox larger than any worker's room is refused with Ember's reason", func(t *testing.T) {
		p, ws := newPack(t, 2, 1024, 0, 1<<20)
		ws[0].mb.Store(600)
		ws[1].mb.Store(600)
		_, err := place(t, p, ws, spec("big", 512))
		var le *lambdaerr.Error
		if !errors.As(err, &le) || le.Type != lambdaerr.TooManyRequests || le.Reason != placement.ReasonCapacity || !errors.Is(err, assign.ErrNoCapacity) {
			t.Errorf("got %v, want a 429 with reason %s wrapping assign.ErrNoCapacity", err, placement.ReasonCapacity)
		}
		if i, err := place(t, p, ws, spec("small", 256)); err != nil || i < 0 {
			t.Errorf("a sandbox that fits was refused: %v", err)
		}
	})
	t.Run("a sandbox is refused when the host's available memory would fall below the reserve", func(t *testing.T) {
		p, ws := newPack(t, 1, 1<<20, 1000, 1500)
		if _, err := place(t, p, ws, spec("fits", 500)); err != nil {
			t.Fatalf("500 MB with 1500 available and 1000 reserved: %v", err)
		}
		if _, err := place(t, p, ws, spec("over", 501)); !errors.Is(err, assign.ErrNoCapacity) {
			t.Errorf("501 MB with 1500 available and 1000 reserved: %v, want refused", err)
		}
	})
	t.Run("memory placed but not yet in a sandbox counts", func(t *testing.T) {
		p, _ := newPack(t, 1, 1024, 0, 1<<20)
		if _, err := p.Place(context.Background(), spec("a", 1024)); err != nil {
			t.Fatal(err)
		}
		if _, err := p.Place(context.Background(), spec("b", 1)); !errors.Is(err, assign.ErrNoCapacity) {
			t.Errorf("a second placement while the first sandbox is being made: %v, want refused", err)
		}
	})
}

func TestMeminfoIsRead(t *testing.T) {
	total, err := placement.MemTotalMB()
	if err != nil {
		t.Skipf("needs /proc/meminfo: %v", err)
	}
	avail, err := placement.MemAvailableMB()
	if err != nil || avail <= 0 || avail > total {
		t.Errorf("MemAvailable %d of %d MB (%v)", avail, total, err)
	}
	if r := placement.DefaultReserveMB(); r < 256 || r > total {
		t.Errorf("default reserve %d MB of %d", r, total)
	}
}
