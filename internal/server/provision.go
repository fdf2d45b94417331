package server

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/ember-serverless/ember/internal/assign"
	"github.com/ember-serverless/ember/internal/control"
	"github.com/ember-serverless/ember/internal/invoke"
)

// provisionEvery is how often the provisioner checks that every config's sandboxes exist,
// besides right after a config changes: a provisioned sandbox that died is made again then.
const provisionEvery = 2 * time.Second

// provisioner keeps the sandboxes the provisioned concurrency configs ask for: it resolves
// each config's version (an alias to the version it routes to), asks the worker manager to
// keep that many initialized, and reports how far each is for Get/ListProvisionedConcurrency.
// After a restart, the configs load from their bucket and the sandboxes are made again.
type provisioner struct {
	configs *control.Provisioned
	res     interface {
		Resolve(ctx context.Context, name, qualifier string) (*invoke.Version, error)
	}
	assign *assign.Manager
	logger *slog.Logger

	mu     sync.Mutex
	state  map[string]control.ProvisionState // by NAME\x00QUALIFIER
	held   map[string]invoke.Version         // version key → the version, while provisioned
	cancel context.CancelFunc
	done   chan struct{}
}

func startProvisioner(configs *control.Provisioned, res *control.Resolver, m *assign.Manager, logger *slog.Logger) *provisioner {
	ctx, cancel := context.WithCancel(context.Background())
	p := &provisioner{configs: configs, res: res, assign: m, logger: logger, state: map[string]control.ProvisionState{},
		held: map[string]invoke.Version{}, cancel: cancel, done: make(chan struct{})}
	configs.SetState(p.stateOf)
	go p.loop(ctx)
	return p
}

func (p *provisioner) stateOf(fn, qualifier string) control.ProvisionState {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state[fn+"\x00"+qualifier]
}

func (p *provisioner) loop(ctx context.Context) {
	defer close(p.done)
	t := time.NewTicker(provisionEvery)
	defer t.Stop()
	for {
		p.reconcile(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-p.configs.Changed():
		}
	}
}

// reconcile brings every version's provisioned sandboxes to what the configs ask for.
func (p *provisioner) reconcile(ctx context.Context) {
	type want struct {
		v       invoke.Version
		n       int
		configs []control.ProvisionedTarget
	}
	wants := map[string]*want{}
	state := map[string]control.ProvisionState{}
	for _, t := range p.configs.Targets() {
		v, err := p.res.Resolve(ctx, t.Function, t.Qualifier)
		if err != nil {
			state[t.Function+"\x00"+t.Qualifier] = control.ProvisionState{Failed: err.Error()}
			continue
		}
		w := wants[v.Key]
		if w == nil {
			w = &want{v: *v}
			wants[v.Key] = w
		}
		w.n += t.Requested
		w.configs = append(w.configs, t)
	}
	for key, w := range wants {
		n, err := p.assign.Provision(ctx, key, w.v.Sandbox, w.n)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			p.logger.Warn("provisioned concurrency not allocated", "function", w.v.Sandbox.FunctionName, "version", w.v.Version,
				"ready", n, "requested", w.n, "err", err)
		}
		// The version's ready sandboxes are shared out in config order.
		for _, t := range w.configs {
			st := control.ProvisionState{Ready: min(n, t.Requested)}
			n -= st.Ready
			if err != nil && st.Ready < t.Requested {
				st.Failed = "Provisioned concurrency could not be allocated: " + err.Error()
			}
			state[t.Function+"\x00"+t.Qualifier] = st
		}
	}
	p.mu.Lock()
	var drop []invoke.Version
	for key, v := range p.held {
		if wants[key] == nil {
			drop = append(drop, v)
			delete(p.held, key)
		}
	}
	for key, w := range wants {
		p.held[key] = w.v
	}
	p.state = state
	p.mu.Unlock()
	for _, v := range drop {
		p.assign.Provision(ctx, v.Key, v.Sandbox, 0)
	}
}

func (p *provisioner) stop() {
	p.cancel()
	<-p.done
}
