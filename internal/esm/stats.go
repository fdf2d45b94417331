package esm

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// mappingStats are one mapping's counters since the server started.
type mappingStats struct {
	polled, invoked, filtered, failed, succeeded, retried, throttled atomic.Int64
	// iteratorAge is the age, in milliseconds, of the last record of the last batch invoked.
	iteratorAge atomic.Int64
	lastResult  atomic.Pointer[string]
	pendingMu   sync.Mutex
	pending     func(context.Context) int64
}

func (m *mappingStats) result(s string) { m.lastResult.Store(&s) }

func (m *mappingStats) setPending(f func(context.Context) int64) {
	m.pendingMu.Lock()
	m.pending = f
	m.pendingMu.Unlock()
}

// Pending is how many records wait in the source, or -1 when unknown.
func (m *mappingStats) Pending() int64 {
	m.pendingMu.Lock()
	f := m.pending
	m.pendingMu.Unlock()
	if f == nil {
		return -1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return f(ctx)
}

type statsTable struct {
	mu sync.Mutex
	m  map[string]*mappingStats
}

func (t *statsTable) of(id string) *mappingStats {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m = map[string]*mappingStats{}
	}
	st := t.m[id]
	if st == nil {
		st = &mappingStats{}
		t.m[id] = st
	}
	return st
}

func (t *statsTable) forget(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.m, id)
}

// Stats is one mapping's figures, for metrics.
type Stats struct {
	UUID, Function                                                   string
	Polled, Invoked, Filtered, Failed, Succeeded, Retried, Throttled int64
	// IteratorAge is the age of the last record of the last batch invoked.
	IteratorAge time.Duration
	// Pending is how many records wait in the source (-1 when the source cannot tell).
	Pending int64
}

// Stats is every mapping's figures.
func (s *Service) Stats() []Stats {
	s.mu.Lock()
	ms := make([]*Mapping, 0, len(s.mappings))
	for _, st := range s.mappings {
		ms = append(ms, st.m)
	}
	s.mu.Unlock()
	out := make([]Stats, 0, len(ms))
	for _, m := range ms {
		st := s.stats.of(m.UUID)
		out = append(out, Stats{UUID: m.UUID, Function: m.Function, Polled: st.polled.Load(), Invoked: st.invoked.Load(),
			Filtered: st.filtered.Load(), Failed: st.failed.Load(), Succeeded: st.succeeded.Load(), Retried: st.retried.Load(),
			Throttled: st.throttled.Load(), IteratorAge: time.Duration(st.iteratorAge.Load()) * time.Millisecond, Pending: st.Pending()})
	}
	return out
}
