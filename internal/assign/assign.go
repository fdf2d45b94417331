package assign

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ember-serverless/ember/internal/invoke"
	"github.com/ember-serverless/ember/internal/worker"
)

// Host makes sandboxes: a worker, local or remote.
type Host interface {
	NewSandbox(ctx context.Context, spec invoke.SandboxSpec) (*worker.Sandbox, error)
}

// ErrNoCapacity is wrapped by a Placement's error when no host has room for a sandbox: the
// manager then destroys its least recently used idle sandbox and asks again.
var ErrNoCapacity = errors.New("no capacity for another sandbox")

// Placement chooses the host a new sandbox goes on.
type Placement interface {
	Place(ctx context.Context, spec invoke.SandboxSpec) (Host, error)
}

// Config is what a Manager needs.
type Config struct {
	Placement Placement
	// IdleTimeout is how long an idle sandbox is kept before it is reclaimed.
	IdleTimeout time.Duration
	// MaxLifetime, when positive, is how long a sandbox may live: one older is destroyed when
	// it is released or while it is idle, and the next invoke gets a fresh one.
	MaxLifetime time.Duration
	Logger      *slog.Logger
}

// Validate reports what is missing.
func (c *Config) Validate() error {
	if c.Placement == nil {
		return errors.New("assign: a placement is required")
	}
	if c.IdleTimeout <= 0 {
		return fmt.Errorf("assign: idle timeout %s must be positive", c.IdleTimeout)
	}
	if c.MaxLifetime < 0 {
		return fmt.Errorf("assign: max lifetime %s must not be negative", c.MaxLifetime)
	}
	return nil
}

// Manager leases sandboxes to invokes.
type Manager struct {
	cfg    Config
	logger *slog.Logger

	mu      sync.Mutex
	pools   map[string]*pool  // by version key
	current map[string]string // version ARN ($LATEST's unqualified) → its current key's pool, for retiring
	born    map[*worker.Sandbox]time.Time
	// pinned are the provisioned sandboxes, by the key of their pool: never reclaimed, expired
	// or evicted while idle.
	pinned map[*worker.Sandbox]string
	closed bool

	stop chan struct{}
	wg   sync.WaitGroup
}

// pool holds one function version's sandboxes.
type pool struct {
	key      string
	function string
	// lineage is the version's ARN: $LATEST's (unqualified) is one lineage whose key changes
	// with every update, each published version another whose key never changes.
	lineage string
	idle    []idleSandbox // most recently used last
	busy    int
	retired bool
}

type idleSandbox struct {
	sb    *worker.Sandbox
	since time.Time
}

// New starts a manager and its reclaimer.
func New(cfg Config) (*Manager, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	m := &Manager{cfg: cfg, logger: cfg.Logger, pools: map[string]*pool{},
		current: map[string]string{}, born: map[*worker.Sandbox]time.Time{},
		pinned: map[*worker.Sandbox]string{}, stop: make(chan struct{})}
	m.wg.Add(1)
	go m.reclaimLoop()
	return m, nil
}

// maxAttempts bounds how often an invoke is retried on a fresh sandbox when a warm one turns
// out to have died while idle.
const maxAttempts = 3

// Invoke runs inv in a sandbox for the function version named by key, configured by spec:
// an idle one if there is one, else a new one.
func (m *Manager) Invoke(ctx context.Context, key string, spec invoke.SandboxSpec, inv *invoke.Invocation) (*invoke.Result, error) {
	for attempt := 0; ; attempt++ {
		sb, err := m.acquire(ctx, key, spec)
		if err != nil {
			return nil, err
		}
		res, err := sb.Invoke(ctx, inv)
		if errors.Is(err, worker.ErrSandboxGone) && attempt < maxAttempts {
			m.release(key, sb, false)
			continue
		}
		m.release(key, sb, err == nil && res.Reusable)
		return res, err
	}
}

// acquire leases the most recently used idle sandbox of key's pool, or makes a new one.
func (m *Manager) acquire(ctx context.Context, key string, spec invoke.SandboxSpec) (*worker.Sandbox, error) {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil, errors.New("assign: manager closed")
	}
	p := m.pools[key]
	if p == nil {
		p = &pool{key: key, function: spec.FunctionName, lineage: spec.FunctionARN}
		m.pools[key] = p
		m.retireLocked(spec.FunctionARN, key)
	}
	p.busy++
	if n := len(p.idle); n > 0 {
		sb := p.idle[n-1].sb
		p.idle[n-1] = idleSandbox{}
		p.idle = p.idle[:n-1]
		m.mu.Unlock()
		return sb, nil
	}
	m.mu.Unlock()

	host, err := m.place(ctx, spec)
	if err == nil {
		var sb *worker.Sandbox
		if sb, err = host.NewSandbox(ctx, spec); err == nil {
			m.mu.Lock()
			m.born[sb] = time.Now()
			m.mu.Unlock()
			return sb, nil
		}
	}
	m.mu.Lock()
	p.busy--
	m.mu.Unlock()
	return nil, err
}

// maxEvictions bounds how many idle sandboxes one cold start may destroy to make room.
const maxEvictions = 8

// place asks placement for a host; when placement has no room, the least recently used idle
// sandbox of any function is destroyed to make some, as long as there is one.
func (m *Manager) place(ctx context.Context, spec invoke.SandboxSpec) (Host, error) {
	for evicted := 0; ; evicted++ {
		host, err := m.cfg.Placement.Place(ctx, spec)
		if !errors.Is(err, ErrNoCapacity) || evicted == maxEvictions || !m.evictOldestIdle(ctx) {
			return host, err
		}
	}
}

// evictOldestIdle destroys the idle sandbox released longest ago, waiting until its memory is
// free; it reports false when no sandbox is idle.
func (m *Manager) evictOldestIdle(ctx context.Context) bool {
	m.mu.Lock()
	var oldest *pool
	at := -1
	for _, p := range m.pools {
		for i, e := range p.idle {
			if _, pinned := m.pinned[e.sb]; pinned {
				continue
			}
			if oldest == nil || e.since.Before(oldest.idle[at].since) {
				oldest, at = p, i
			}
			break // the rest of the stack was released later
		}
	}
	if oldest == nil {
		m.mu.Unlock()
		return false
	}
	sb := oldest.idle[at].sb
	oldest.idle = append(oldest.idle[:at], oldest.idle[at+1:]...)
	delete(m.born, sb)
	m.mu.Unlock()
	m.logger.Debug("evicting an idle sandbox to make room", "function", sb.Config().FunctionName, "sandbox", sb.ID())
	sb.Destroy(ctx)
	return true
}

// retireLocked marks the pools of a lineage's older keys retired and destroys their idle
// sandboxes: after an update of $LATEST, invokes go to sandboxes with the new code and
// configuration, while the sandboxes of the function's published versions stay.
func (m *Manager) retireLocked(lineage, key string) {
	old, ok := m.current[lineage]
	m.current[lineage] = key
	if !ok || old == key {
		return
	}
	if p := m.pools[old]; p != nil {
		p.retired = true
		for _, e := range p.idle {
			delete(m.born, e.sb)
			delete(m.pinned, e.sb)
			go e.sb.Destroy(context.Background())
		}
		p.idle = nil
		if p.busy == 0 {
			delete(m.pools, old)
		}
	}
}

// release returns a leased sandbox: to the idle stack when it can be used again, else it is
// destroyed.
func (m *Manager) release(key string, sb *worker.Sandbox, reusable bool) {
	m.mu.Lock()
	p := m.pools[key]
	if p != nil {
		p.busy--
	}
	now := time.Now()
	keep := reusable && p != nil && !p.retired && !m.closed && sb.Usable() && !m.expiredLocked(sb, now)
	if !keep {
		delete(m.born, sb)
		delete(m.pinned, sb) // the provisioner makes another
	}
	if keep {
		p.idle = append(p.idle, idleSandbox{sb: sb, since: now})
	} else if p != nil && p.retired && p.busy == 0 && len(p.idle) == 0 {
		delete(m.pools, key)
	}
	m.mu.Unlock()
	if !keep {
		go sb.Destroy(context.Background())
	}
}

// expiredLocked reports whether sb has lived past the maximum lifetime.
func (m *Manager) expiredLocked(sb *worker.Sandbox, now time.Time) bool {
	b, ok := m.born[sb]
	_, pinned := m.pinned[sb]
	return ok && !pinned && m.cfg.MaxLifetime > 0 && now.Sub(b) >= m.cfg.MaxLifetime
}

// Forget destroys every idle sandbox of function fn and retires its pools, as when the
// function is deleted.
func (m *Manager) Forget(fn string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for key, p := range m.pools {
		if p.function != fn {
			continue
		}
		delete(m.current, p.lineage)
		p.retired = true
		for _, e := range p.idle {
			delete(m.born, e.sb)
			delete(m.pinned, e.sb)
			go e.sb.Destroy(context.Background())
		}
		p.idle = nil
		if p.busy == 0 {
			delete(m.pools, key)
		}
	}
}

// ForgetVersion destroys every idle sandbox of the function version whose ARN is arn (a
// published version's qualified ARN) and retires its pools, as when the version is deleted.
func (m *Manager) ForgetVersion(arn string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.current, arn)
	for key, p := range m.pools {
		if p.lineage != arn {
			continue
		}
		p.retired = true
		for _, e := range p.idle {
			delete(m.born, e.sb)
			delete(m.pinned, e.sb)
			go e.sb.Destroy(context.Background())
		}
		p.idle = nil
		if p.busy == 0 {
			delete(m.pools, key)
		}
	}
}

// Stats counts sandboxes by state.
type Stats struct{ Idle, Busy int }

// Stats reports how many sandboxes are idle and busy now.
func (m *Manager) Stats() Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	var st Stats
	for _, p := range m.pools {
		st.Idle += len(p.idle)
		st.Busy += p.busy
	}
	return st
}

func (m *Manager) reclaimLoop() {
	defer m.wg.Done()
	every := m.cfg.IdleTimeout / 4
	if l := m.cfg.MaxLifetime; l > 0 && l/4 < every {
		every = l / 4
	}
	if every > 30*time.Second {
		every = 30 * time.Second
	}
	if every < 10*time.Millisecond {
		every = 10 * time.Millisecond
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case now := <-t.C:
			m.reclaim(now)
		}
	}
}

// reclaim destroys sandboxes idle for longer than the idle timeout, and idle ones that have
// lived past the maximum lifetime.
func (m *Manager) reclaim(now time.Time) {
	var doomed []*worker.Sandbox
	m.mu.Lock()
	for key, p := range m.pools {
		kept := p.idle[:0]
		for _, e := range p.idle {
			if _, pinned := m.pinned[e.sb]; !pinned && (now.Sub(e.since) >= m.cfg.IdleTimeout || m.expiredLocked(e.sb, now)) {
				doomed = append(doomed, e.sb)
				delete(m.born, e.sb)
				continue
			}
			kept = append(kept, e)
		}
		clear(p.idle[len(kept):])
		p.idle = kept
		if len(p.idle) == 0 && p.busy == 0 {
			delete(m.pools, key)
			if m.current[p.lineage] == key {
				delete(m.current, p.lineage)
			}
		}
	}
	m.mu.Unlock()
	for _, sb := range doomed {
		m.logger.Debug("reclaiming idle sandbox", "function", sb.Config().FunctionName, "sandbox", sb.ID())
		sb.Destroy(context.Background())
	}
}

// Close stops the reclaimer and destroys every idle sandbox; busy ones are destroyed as they
// are released.
func (m *Manager) Close() {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	m.closed = true
	var doomed []*worker.Sandbox
	for _, p := range m.pools {
		for _, e := range p.idle {
			doomed = append(doomed, e.sb)
			delete(m.born, e.sb)
			delete(m.pinned, e.sb)
		}
		p.idle = nil
	}
	m.mu.Unlock()
	close(m.stop)
	m.wg.Wait()
	for _, sb := range doomed {
		sb.Destroy(context.Background())
	}
}
