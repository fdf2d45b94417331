package cgsandbox

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ember-serverless/ember/internal/sandbox/cgroups"
	"github.com/ember-serverless/ember/internal/testenv"
)

// usageGroup is a group whose CPU use the test sets, recording how it is held.
type usageGroup struct {
	cgroups.Group // nil: only what burst uses is implemented

	mu      sync.Mutex
	used    time.Duration
	counted bool // false: CPUUsage fails with ErrNoCPUUsage
	reads   int
	held    bool
	holds   int
}

func (g *usageGroup) CPUUsage() (time.Duration, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.reads++
	if !g.counted {
		return 0, cgroups.ErrNoCPUUsage
	}
	return g.used, nil
}

func (g *usageGroup) HoldCPU(on bool) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if on && !g.held {
		g.holds++
	}
	g.held = on
	return nil
}

func (g *usageGroup) state() (reads int, held bool, holds int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.reads, g.held, g.holds
}

func (g *usageGroup) use(d time.Duration) {
	g.mu.Lock()
	g.used += d
	g.mu.Unlock()
}

func newBurstCore(g *usageGroup, after time.Duration) *Core {
	c := &Core{}
	c.Init("test: sandbox", g, 72, false, time.Second)
	c.SetBurst(after)
	return c
}

func waitHeld(t *testing.T, g *usageGroup, want bool) {
	t.Helper()
	testenv.CheckFor(t, 30*time.Second, time.Millisecond, func() error {
		if _, held, _ := g.state(); held != want {
			return fmt.Errorf("held %v, want %v", held, want)
		}
		return nil
	})
}

func TestTheBurstIsCountedInCPUTime(t *testing.T) {
	const after = 20 * time.Millisecond
	t.Run("an invocation that waited for a CPU rather than ran is not held", func(t *testing.T) {
		g := &usageGroup{counted: true, used: time.Second}
		c := newBurstCore(g, after)
		c.BeginInvoke()
		// Let the burst's timer look at the group's use twice, with none used.
		testenv.CheckFor(t, 30*time.Second, time.Millisecond, func() error {
			if reads, _, _ := g.state(); reads < 3 {
				return fmt.Errorf("the group's use was read %d times", reads)
			}
			return nil
		})
		if _, held, _ := g.state(); held {
			t.Fatal("held to the CPU limit having used no CPU time")
		}
		if err := c.EndInvoke(); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("an invocation is held once it has used the burst, and released when it ends", func(t *testing.T) {
		g := &usageGroup{counted: true, used: time.Second}
		c := newBurstCore(g, after)
		c.BeginInvoke()
		g.use(after / 2)
		g.use(after / 2)
		waitHeld(t, g, true)
		if err := c.EndInvoke(); err != nil {
			t.Fatal(err)
		}
		if _, held, _ := g.state(); held {
			t.Fatal("still held after the invocation ended")
		}
		// The next invocation's burst counts from its own start.
		c.BeginInvoke()
		testenv.CheckFor(t, 30*time.Second, time.Millisecond, func() error {
			if reads, _, _ := g.state(); reads < 6 {
				return fmt.Errorf("the group's use was read %d times", reads)
			}
			return nil
		})
		if _, held, holds := g.state(); held || holds != 1 {
			t.Fatalf("the next invocation, having used nothing: held %v after %d holds", held, holds)
		}
		_ = c.EndInvoke()
	})
	t.Run("where CPU use is not counted, wall time stands in", func(t *testing.T) {
		g := &usageGroup{counted: false}
		c := newBurstCore(g, after)
		c.BeginInvoke()
		waitHeld(t, g, true)
		_ = c.EndInvoke()
	})
}
