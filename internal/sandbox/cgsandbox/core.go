// Package cgsandbox is the part of a sandbox that is the same for every backend running its
// sandboxes in a cgroup (jail, gvisor): how the sandbox ended, its peak memory, its init-phase
// CPU boost, freezing, and the bookkeeping of Start and Destroy; and what every such sandbox's
// root holds alike (its user, its /etc, how its commands are found). It must not create
// processes, mounts or namespaces: those are each backend's own.
package cgsandbox

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ember-serverless/ember/internal/sandbox"
	"github.com/ember-serverless/ember/internal/sandbox/cgroups"
)

// Core is embedded by a backend's sandbox type. Init must be called before anything else.
type Core struct {
	// CG is the sandbox's cgroup.
	CG cgroups.Group
	// Mu guards the sandbox's state: Core's started and destroyed flags and whatever the
	// backend keeps beside them.
	Mu sync.Mutex

	what     string        // "jail: sandbox ID", the start of every error
	cpuMilli int64         // the CPU the function's memory buys
	grace    time.Duration // between SIGTERM and the kill

	started, destroyed bool

	done chan struct{}
	exit sandbox.ExitStatus
	peak atomic.Int64 // last peak memory read, for Stats after the cgroup is gone

	boosted    atomic.Bool // still in the init phase's CPU boost
	boostTimer *time.Timer

	burst burst
}

// burst is the state of a sandbox whose group was made with cgroups.Limits.CPULazy: its
// processes run outside the group's CPU limit until an init or invocation has used after of
// CPU time, then are held to it until that invocation ends. Where the host does not count
// the group's CPU use apart from its limit (cgroups.ErrNoCPUUsage), wall time since the
// invocation began stands in for it.
//
// CPU time, not wall time, because on a loaded machine an invocation that waited for a CPU
// is old in wall time without having run: held then, a 128 MB function's next slice waits
// for the quota's next period (up to 100 ms), which is what the 16-client tail was made of.
type burst struct {
	mu     sync.Mutex
	after  time.Duration // zero: the group is always held (strict)
	timer  *time.Timer
	active bool          // an init or invocation is running
	since  time.Time     // when it began
	base   time.Duration // the group's CPU use when it began; -1 where not counted
	held   bool
	err    error // the last failure to hold or release, for EndInvoke
}

// Init sets the core up: what names the sandbox in errors ("jail: sandbox ID"), cg is its
// group, cpuMilli the CPU its memory buys, boosted whether cg was created with more for the init
// phase, grace the time a runtime gets between SIGTERM and the kill.
func (c *Core) Init(what string, cg cgroups.Group, cpuMilli int64, boosted bool, grace time.Duration) {
	c.what, c.CG, c.cpuMilli, c.grace = what, cg, cpuMilli, grace
	c.done = make(chan struct{})
	c.boosted.Store(boosted)
}

// SetBurst says the sandbox's group was made with cgroups.Limits.CPULazy: an init or
// invocation runs outside its CPU limit until it has run for after, and is held to it from
// then until it ends. Call it after Init, before Start.
func (c *Core) SetBurst(after time.Duration) {
	c.burst.after = after
}

// BeginInvoke starts an invocation's burst (unless the init's or another invocation's is
// still running, which it continues).
func (c *Core) BeginInvoke() {
	b := &c.burst
	if b.after <= 0 {
		return
	}
	b.mu.Lock()
	if !b.active {
		b.active, b.since, b.base = true, time.Now(), -1
		if used, err := c.CG.CPUUsage(); err == nil {
			b.base = used
		}
		if b.timer == nil {
			b.timer = time.AfterFunc(b.after, c.burstOver)
		} else {
			b.timer.Reset(b.after)
		}
	}
	b.mu.Unlock()
}

// burstOver holds the sandbox to its CPU limit if its init or invocation is still running
// and has used the burst; otherwise it looks again when it could have.
func (c *Core) burstOver() {
	b := &c.burst
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.active || b.held {
		return
	}
	if left := b.after - time.Since(b.since); left > 0 {
		b.timer.Reset(left) // a timer of an earlier invocation, stopped too late
		return
	}
	if b.base >= 0 {
		if used, err := c.CG.CPUUsage(); err == nil && used-b.base < b.after {
			// Not yet: it cannot use the rest sooner than this, on one CPU.
			b.timer.Reset(max(b.after-(used-b.base), time.Millisecond))
			return
		}
	}
	if err := c.CG.HoldCPU(true); err != nil {
		b.err = fmt.Errorf("%s: hold to the CPU limit: %w", c.what, err)
		return
	}
	b.held = true
}

// EndInvoke ends the running init's or invocation's burst: a sandbox held to its CPU limit
// runs outside it again from the next one. It reports a failure to hold or release.
func (c *Core) EndInvoke() error {
	b := &c.burst
	if b.after <= 0 {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.active = false
	if b.timer != nil {
		b.timer.Stop()
	}
	if b.held {
		if err := c.CG.HoldCPU(false); err != nil && b.err == nil {
			b.err = fmt.Errorf("%s: release from the CPU limit: %w", c.what, err)
		} else if err == nil {
			b.held = false
		}
	}
	err := b.err
	b.err = nil
	return err
}

// Done is closed when the runtime has exited.
func (c *Core) Done() <-chan struct{} { return c.done }

// Exit tells how the runtime ended; it waits for Done.
func (c *Core) Exit() sandbox.ExitStatus { <-c.done; return c.exit }

// Exited records how the runtime ended, flagged OOM when the kernel killed something of the
// group for its memory, and closes Done. The backend's wait calls it once.
func (c *Core) Exited(st sandbox.ExitStatus) {
	if n, err := c.CG.OOMKills(); err == nil && n > 0 {
		st.OOM = true
	}
	c.Stats()
	c.exit = st
	close(c.done)
}

// Stats reads the peak memory of the sandbox's cgroup; after Destroy it reports the last
// figure read.
func (c *Core) Stats() sandbox.Stats {
	if n, err := c.CG.PeakMemory(); err == nil && n > 0 {
		for {
			old := c.peak.Load()
			if n <= old || c.peak.CompareAndSwap(old, n) {
				break
			}
		}
	}
	return sandbox.Stats{MaxMemoryBytes: c.peak.Load()}
}

// Alive reports sandbox.ErrDestroyed once Destroy has begun. Mu must be held.
func (c *Core) Alive() error {
	if c.destroyed {
		return sandbox.ErrDestroyed
	}
	return nil
}

// Start runs begin, the backend's step that lets the runtime start, once and only on a live
// sandbox. When begin succeeds the sandbox's peak memory starts over (what the set-up used is
// not the function's), and a boosted sandbox's boost ends after boostFor at the latest.
func (c *Core) Start(begin func() error, boostFor time.Duration) error {
	c.Mu.Lock()
	defer c.Mu.Unlock()
	if err := c.Alive(); err != nil {
		return err
	}
	if c.started {
		return fmt.Errorf("%s already started", c.what)
	}
	c.started = true
	if err := begin(); err != nil {
		return err
	}
	_ = c.CG.ResetPeak()
	c.BeginInvoke() // the init's burst
	if c.boosted.Load() {
		c.boostTimer = time.AfterFunc(boostFor, func() { c.EndInitBoost() })
	}
	return nil
}

// Boosted reports whether the sandbox still has its init phase's CPU boost.
func (c *Core) Boosted() bool { return c.boosted.Load() }

// EndInitBoost cuts the sandbox's CPU to its memory's share. It is safe to call more than
// once and after Destroy.
func (c *Core) EndInitBoost() error {
	if !c.boosted.CompareAndSwap(true, false) {
		return nil
	}
	if err := c.CG.SetCPU(c.cpuMilli); err != nil {
		return fmt.Errorf("%s: end init boost: %w", c.what, err)
	}
	return nil
}

// Freeze stops every process of the sandbox. An idle sandbox has finished its init, so the
// init boost ends here at the latest.
func (c *Core) Freeze() error {
	c.Mu.Lock()
	defer c.Mu.Unlock()
	if err := c.Alive(); err != nil {
		return err
	}
	if err := c.EndInitBoost(); err != nil {
		return err
	}
	return c.CG.Freeze()
}

// Thaw resumes a frozen sandbox.
func (c *Core) Thaw() error {
	c.Mu.Lock()
	defer c.Mu.Unlock()
	if err := c.Alive(); err != nil {
		return err
	}
	return c.CG.Thaw()
}

// Signaler is the runtime's first process, as Destroy asks it to stop: an *os.Process, or a
// backend's own handle where the process is not the server's child.
type Signaler interface {
	Signal(os.Signal) error
}

// Destroy begins the sandbox's end once: later calls return nil at once. When the runtime was
// started and ask is set, proc is sent SIGTERM (thawed first) and given the grace period, or
// until ctx ends, to exit; then teardown, the backend's own, kills and removes everything.
func (c *Core) Destroy(ctx context.Context, proc Signaler, ask bool, teardown func() error) error {
	c.Mu.Lock()
	if c.destroyed {
		c.Mu.Unlock()
		return nil
	}
	c.destroyed = true
	started := c.started
	if c.boostTimer != nil {
		c.boostTimer.Stop()
	}
	c.boosted.Store(false)
	c.Mu.Unlock()
	c.burst.mu.Lock()
	c.burst.active, c.burst.held = false, false // its group goes with it
	if c.burst.timer != nil {
		c.burst.timer.Stop()
	}
	c.burst.mu.Unlock()

	if started && ask && proc != nil {
		select {
		case <-c.done:
		default:
			_ = c.CG.Thaw()
			_ = proc.Signal(syscall.SIGTERM)
			t := time.NewTimer(c.grace)
			select {
			case <-c.done:
			case <-t.C:
			case <-ctx.Done():
			}
			t.Stop()
		}
	}
	return teardown()
}
