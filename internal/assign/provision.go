package assign

import (
	"context"
	"errors"
	"time"

	"github.com/ember-serverless/ember/internal/invoke"
)

// Provision keeps n initialized sandboxes of the version named by key, as Lambda's provisioned
// concurrency: it makes and prewarms the missing ones, so that invokes within n never start
// cold, and unpins those beyond n, which become on-demand sandboxes that age out. Pinned
// sandboxes are never reclaimed, expired or evicted while idle; one that dies is unpinned and
// made again by the next call. It returns how many are pinned, and the first error that kept
// it from making one.
func (m *Manager) Provision(ctx context.Context, key string, spec invoke.SandboxSpec, n int) (int, error) {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return 0, errors.New("assign: manager closed")
	}
	p := m.pools[key]
	if p == nil {
		if n == 0 {
			m.unpinLocked(key, 0)
			m.mu.Unlock()
			return 0, nil
		}
		p = &pool{key: key, function: spec.FunctionName, lineage: spec.FunctionARN}
		m.pools[key] = p
		m.retireLocked(spec.FunctionARN, key)
	}
	have := m.unpinLocked(key, n)
	if have < n {
		p.busy++ // the pool is in use while its sandboxes are made: not reclaimed
		defer func() {
			m.mu.Lock()
			p.busy--
			m.mu.Unlock()
		}()
	}
	m.mu.Unlock()
	for ; have < n; have++ {
		host, err := m.place(ctx, spec)
		if err != nil {
			return have, err
		}
		sb, err := host.NewSandbox(ctx, spec)
		if err != nil {
			return have, err
		}
		if err := sb.Prewarm(ctx); err != nil {
			return have, err
		}
		now := time.Now()
		m.mu.Lock()
		if m.closed || p.retired || m.pools[key] != p {
			m.mu.Unlock()
			sb.Destroy(context.Background())
			return have, errors.New("assign: the version's sandboxes were retired")
		}
		m.born[sb] = now
		m.pinned[sb] = key
		p.idle = append(p.idle, idleSandbox{sb: sb, since: now})
		m.mu.Unlock()
	}
	return have, nil
}

// unpinLocked leaves at most n sandboxes of key pinned, unpinning idle ones first, and
// returns how many are.
func (m *Manager) unpinLocked(key string, n int) int {
	have := 0
	for _, k := range m.pinned {
		if k == key {
			have++
		}
	}
	if have <= n {
		return have
	}
	if p := m.pools[key]; p != nil {
		for _, e := range p.idle {
			if have > n && m.pinned[e.sb] == key {
				delete(m.pinned, e.sb)
				have--
			}
		}
	}
	for sb, k := range m.pinned {
		if have > n && k == key {
			delete(m.pinned, sb)
			have--
		}
	}
	return have
}

// ProvisionedStats are one version's provisioned sandboxes.
type ProvisionedStats struct {
	Key, Function string
	// Pinned is how many sandboxes are provisioned; Busy how many of them run an invocation.
	Pinned, Busy int
}

// Provisioned reports every version's provisioned sandboxes.
func (m *Manager) Provisioned() []ProvisionedStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	by := map[string]*ProvisionedStats{}
	for _, key := range m.pinned {
		st := by[key]
		if st == nil {
			st = &ProvisionedStats{Key: key}
			if p := m.pools[key]; p != nil {
				st.Function = p.function
			}
			by[key] = st
		}
		st.Pinned++
		st.Busy++
	}
	for key, st := range by {
		if p := m.pools[key]; p != nil {
			for _, e := range p.idle {
				if m.pinned[e.sb] == key {
					st.Busy--
				}
			}
		}
	}
	out := make([]ProvisionedStats, 0, len(by))
	for _, st := range by {
		out = append(out, *st)
	}
	return out
}
