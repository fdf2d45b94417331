package frontend

import (
	"sort"
	"sync"
	"sync/atomic"

	"github.com/ember-serverless/ember/internal/lambdaerr"
)

// Limits is what admission reads of the functions' concurrency settings. It is called on
// every invoke, so it must answer from memory (*control.Registry does).
type Limits interface {
	// Reserved is the function's reserved concurrency and whether it has one.
	Reserved(function string) (int, bool)
	// ReservedTotal is the sum of every function's reserved concurrency.
	ReservedTotal() int
}

// Throttle reasons: Lambda's ThrottleReason values, and Ember's own for a host without memory
// for another sandbox (docs/concurrency.md).
const (
	ReasonAccount  = "ConcurrentInvocationLimitExceeded"
	ReasonReserved = "ReservedFunctionConcurrentInvocationLimitExceeded"
)

// counters are one function's running figures.
type counters struct {
	inflight    atomic.Int64
	invocations atomic.Int64
	errors      atomic.Int64
	mu          sync.Mutex
	throttles   map[string]int64 // by reason
}

func (c *counters) throttled(reason string) {
	c.mu.Lock()
	if c.throttles == nil {
		c.throttles = map[string]int64{}
	}
	c.throttles[reason]++
	c.mu.Unlock()
}

// FunctionStats are one function's figures since start (or since it was last forgotten).
type FunctionStats struct {
	Function string
	// Concurrent is how many of its invocations run now.
	Concurrent  int64
	Invocations int64
	Errors      int64
	// Throttles counts refused invokes by reason.
	Throttles map[string]int64
}

func (f *Frontend) counters(fn string) *counters {
	if c, ok := f.fns.Load(fn); ok {
		return c.(*counters)
	}
	c, _ := f.fns.LoadOrStore(fn, &counters{})
	return c.(*counters)
}

// FunctionStats reports every function's figures, in name order.
func (f *Frontend) FunctionStats() []FunctionStats {
	var out []FunctionStats
	f.fns.Range(func(k, v any) bool {
		c := v.(*counters)
		st := FunctionStats{Function: k.(string), Concurrent: c.inflight.Load(), Invocations: c.invocations.Load(),
			Errors: c.errors.Load(), Throttles: map[string]int64{}}
		c.mu.Lock()
		for r, n := range c.throttles {
			st.Throttles[r] = n
		}
		c.mu.Unlock()
		out = append(out, st)
		return true
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Function < out[j].Function })
	return out
}

// Forget drops a deleted function's figures.
func (f *Frontend) Forget(fn string) { f.fns.Delete(fn) }

// Concurrent is how many invocations of fn run now.
func (f *Frontend) Concurrent(fn string) int64 {
	if c, ok := f.fns.Load(fn); ok {
		return c.(*counters).inflight.Load()
	}
	return 0
}

// admission is one admitted invoke's hold on the counters it took; release gives them back.
type admission struct {
	f          *Frontend
	c          *counters
	unreserved bool
}

func (a admission) release() {
	a.c.inflight.Add(-1)
	a.f.inflight.Add(-1)
	if a.unreserved {
		a.f.unreserved.Add(-1)
	}
}

// admit takes one concurrent execution for an invoke of fn: from the function's reservation
// when it has one, else from the account's unreserved pool (the limit less every reservation).
// Over either, the invoke is throttled at once, never queued.
func (f *Frontend) admit(fn string) (admission, error) {
	c := f.counters(fn)
	a := admission{f: f, c: c}
	if n, ok := f.cfg.Limits.Reserved(fn); ok {
		if c.inflight.Add(1) > int64(n) {
			c.inflight.Add(-1)
			return a, f.throttle(c, ReasonReserved)
		}
	} else {
		pool := int64(f.cfg.ConcurrencyLimit - f.cfg.Limits.ReservedTotal())
		if f.unreserved.Add(1) > pool {
			f.unreserved.Add(-1)
			return a, f.throttle(c, ReasonAccount)
		}
		a.unreserved = true
		c.inflight.Add(1)
	}
	f.inflight.Add(1)
	return a, nil
}

// throttle counts a refused invoke and is the TooManyRequestsException its caller gets.
func (f *Frontend) throttle(c *counters, reason string) error {
	f.throttles.Add(1)
	c.throttled(reason)
	return &lambdaerr.Error{Type: lambdaerr.TooManyRequests, Message: "Rate Exceeded.", Reason: reason, RetryAfterSeconds: 1}
}

// noLimits is Limits for a frontend without per-function settings: nothing reserved.
type noLimits struct{}

func (noLimits) Reserved(string) (int, bool) { return 0, false }
func (noLimits) ReservedTotal() int          { return 0 }
