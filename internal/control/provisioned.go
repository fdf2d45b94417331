package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ember-serverless/ember/internal/lambdaerr"
	"github.com/ember-serverless/ember/internal/limits"
	"github.com/ember-serverless/ember/internal/state"
)

// DefaultProvisionedBucket holds provisioned concurrency configs, by NAME.QUALIFIER.
const DefaultProvisionedBucket = "provisioned-concurrency"

// Provisioned concurrency statuses.
const (
	ProvisionedInProgress = "IN_PROGRESS"
	ProvisionedReady      = "READY"
	ProvisionedFailed     = "FAILED"
)

// ProvisionedConcurrencyConfig is Lambda's Get/PutProvisionedConcurrencyConfig output and, with
// FunctionArn, an item of ListProvisionedConcurrencyConfigs.
type ProvisionedConcurrencyConfig struct {
	FunctionArn                              string `json:"FunctionArn,omitempty"`
	RequestedProvisionedConcurrentExecutions int    `json:"RequestedProvisionedConcurrentExecutions"`
	AvailableProvisionedConcurrentExecutions int    `json:"AvailableProvisionedConcurrentExecutions"`
	AllocatedProvisionedConcurrentExecutions int    `json:"AllocatedProvisionedConcurrentExecutions"`
	Status                                   string `json:"Status"`
	StatusReason                             string `json:"StatusReason,omitempty"`
	LastModified                             string `json:"LastModified"`
}

// ProvisionedTarget is one stored config: what the sandboxes are made for.
type ProvisionedTarget struct {
	Function, Qualifier string
	Requested           int
	Modified            time.Time
}

// ProvisionState is how far a config's sandboxes are: how many are initialized, and why the
// allocation failed, if it did.
type ProvisionState struct {
	Ready  int
	Failed string
}

type provisionedRecord struct {
	Requested int       `json:"requested"`
	Modified  time.Time `json:"modified"`
}

// Provisioned keeps the provisioned concurrency configs of published versions and aliases in
// a bucket of their own, with an in-memory copy kept current by watching it. Whoever makes
// the sandboxes (the server's provisioner) reads Targets and reports back through the state
// function given to SetState.
type Provisioned struct {
	reg    *Registry
	kv     jetstream.KeyValue
	watch  *state.KeyWatch
	logger *slog.Logger

	mu      sync.RWMutex
	configs map[string]ProvisionedTarget // by NAME.QUALIFIER
	state   func(fn, qualifier string) ProvisionState
	changed chan struct{}
}

// OpenProvisioned opens the configs' bucket on st and loads them.
func OpenProvisioned(ctx context.Context, st *state.State, reg *Registry) (*Provisioned, error) {
	replicas := max(st.Replicas(), 1)
	kv, err := st.JetStream().CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: DefaultProvisionedBucket,
		Description: "Ember provisioned concurrency configs, by NAME.QUALIFIER", History: 1, Storage: jetstream.FileStorage, Replicas: replicas})
	if err != nil {
		return nil, fmt.Errorf("control: bucket %s: %w", DefaultProvisionedBucket, err)
	}
	p := &Provisioned{reg: reg, kv: kv, logger: reg.logger, configs: map[string]ProvisionedTarget{}, changed: make(chan struct{}, 1)}
	if p.watch, err = state.WatchKeys(ctx, kv, p.apply); err != nil {
		return nil, fmt.Errorf("control: %w", err)
	}
	reg.provisioned.Store(p)
	return p, nil
}

// Close stops watching the bucket.
func (p *Provisioned) Close() { p.watch.Stop() }

func (p *Provisioned) apply(e jetstream.KeyValueEntry) {
	name, q, ok := splitVersionKey(e.Key())
	if !ok {
		return
	}
	p.mu.Lock()
	if e.Operation() != jetstream.KeyValuePut {
		delete(p.configs, e.Key())
	} else {
		var rec provisionedRecord
		if err := json.Unmarshal(e.Value(), &rec); err != nil {
			p.mu.Unlock()
			p.logger.Error("provisioned concurrency config unreadable", "key", e.Key(), "err", err)
			return
		}
		p.configs[e.Key()] = ProvisionedTarget{Function: name, Qualifier: q, Requested: rec.Requested, Modified: rec.Modified}
	}
	p.mu.Unlock()
	p.notify()
}

func (p *Provisioned) notify() {
	select {
	case p.changed <- struct{}{}:
	default:
	}
}

// Changed receives a value after configs change.
func (p *Provisioned) Changed() <-chan struct{} { return p.changed }

// SetState sets what reports how far a config's sandboxes are.
func (p *Provisioned) SetState(fn func(fn, qualifier string) ProvisionState) {
	p.mu.Lock()
	p.state = fn
	p.mu.Unlock()
}

// Targets is every config, in key order.
func (p *Provisioned) Targets() []ProvisionedTarget {
	p.mu.RLock()
	out := make([]ProvisionedTarget, 0, len(p.configs))
	for _, t := range p.configs {
		out = append(out, t)
	}
	p.mu.RUnlock()
	slices.SortFunc(out, func(a, b ProvisionedTarget) int {
		return strings.Compare(versionKey(a.Function, a.Qualifier), versionKey(b.Function, b.Qualifier))
	})
	return out
}

// total is the provisioned concurrency of function fn (all of it when fn is ""), but for the
// config at key skip.
func (p *Provisioned) total(fn, skip string) int {
	p.mu.RLock()
	defer p.mu.RUnlock()
	n := 0
	for k, t := range p.configs {
		if k != skip && (fn == "" || t.Function == fn) {
			n += t.Requested
		}
	}
	return n
}

// FunctionTotal is the provisioned concurrency of every version and alias of fn together.
func (p *Provisioned) FunctionTotal(fn string) int { return p.total(fn, "") }

// target parses FunctionName and Qualifier: the qualifier must name a published version or an
// alias, as Lambda refuses provisioned concurrency on $LATEST.
func (p *Provisioned) target(nameOrARN, qualifier string, mustExist bool) (string, string, error) {
	name, q, err := p.reg.cfg.ParseQualifiedName(nameOrARN, qualifier, MaxFunctionNameLen)
	if err != nil {
		return "", "", err
	}
	if _, ok := p.reg.Lookup(name); !ok {
		return "", "", p.reg.notFound(name, "")
	}
	if q == "" {
		return "", "", nullError("qualifier")
	}
	if q == LatestVersion {
		return "", "", lambdaerr.InvalidParameter("Provisioned Concurrency Configs cannot be applied to unpublished function versions.")
	}
	if mustExist {
		if isVersionNumber(q) {
			if _, ok := p.reg.Version(name, q); !ok {
				return "", "", p.reg.notFound(name, q)
			}
		} else if _, ok := p.reg.Alias(name, q); !ok {
			return "", "", p.reg.notFound(name, q)
		}
	}
	return name, q, nil
}

// Put sets the provisioned concurrency of a version or alias. It counts against the
// function's reserved concurrency, when it has one, and else against the account's
// unreserved concurrency, of which limits.MinUnreservedConcurrency must stay free.
func (p *Provisioned) Put(ctx context.Context, nameOrARN, qualifier string, n *int) (*ProvisionedConcurrencyConfig, error) {
	name, q, err := p.target(nameOrARN, qualifier, true)
	if err != nil {
		return nil, err
	}
	switch {
	case n == nil:
		return nil, nullError("provisionedConcurrentExecutions")
	case *n < 1:
		return nil, constraintError(fmt.Sprint(*n), "provisionedConcurrentExecutions", "Member must have value greater than or equal to 1")
	}
	key := versionKey(name, q)
	if reserved, ok := p.reg.Reserved(name); ok {
		if p.total(name, key)+*n > reserved {
			return nil, lambdaerr.InvalidParameter("Requested Provisioned Concurrency should not be greater than the reservedConcurrentExecution for function: %d.", reserved)
		}
	} else if free := p.reg.UnreservedConcurrency() - limits.MinUnreservedConcurrency; p.total("", key)+*n > free {
		return nil, lambdaerr.InvalidParameter("Requested Provisioned Concurrency of %d exceeds the account's unreserved concurrency: "+
			"at most %d can be provisioned, leaving %d unreserved.", *n, free-p.total("", key), limits.MinUnreservedConcurrency)
	}
	rec := provisionedRecord{Requested: *n, Modified: p.reg.now().UTC()}
	data, _ := json.Marshal(rec)
	if _, err := p.kv.Put(ctx, key, data); err != nil {
		return nil, fmt.Errorf("control: store provisioned concurrency %s: %w", key, err)
	}
	p.mu.Lock()
	p.configs[key] = ProvisionedTarget{Function: name, Qualifier: q, Requested: rec.Requested, Modified: rec.Modified}
	p.mu.Unlock()
	p.notify()
	p.logger.Info("provisioned concurrency set", "function", name, "qualifier", q, "requested", *n)
	return p.render(p.configs[key], false), nil
}

func (p *Provisioned) render(t ProvisionedTarget, withARN bool) *ProvisionedConcurrencyConfig {
	p.mu.RLock()
	stateOf := p.state
	p.mu.RUnlock()
	var st ProvisionState
	if stateOf != nil {
		st = stateOf(t.Function, t.Qualifier)
	}
	c := &ProvisionedConcurrencyConfig{RequestedProvisionedConcurrentExecutions: t.Requested,
		AvailableProvisionedConcurrentExecutions: min(st.Ready, t.Requested), AllocatedProvisionedConcurrentExecutions: min(st.Ready, t.Requested),
		Status: ProvisionedInProgress, LastModified: t.Modified.Format(LastModifiedLayout)}
	switch {
	case st.Failed != "":
		c.Status, c.StatusReason = ProvisionedFailed, st.Failed
	case st.Ready >= t.Requested:
		c.Status = ProvisionedReady
	}
	if withARN {
		c.FunctionArn = p.reg.cfg.ARN(t.Function) + ":" + t.Qualifier
	}
	return c
}

var errNoProvisioned = errors.New("no provisioned concurrency config")

func (p *Provisioned) notFound() error {
	return fmt.Errorf("%w: %w", &lambdaerr.Error{Type: "ProvisionedConcurrencyConfigNotFoundException", Status: 404,
		Message: "No Provisioned Concurrency Config found for this function"}, errNoProvisioned)
}

// Get is the config of a version or alias, with how far its sandboxes are.
func (p *Provisioned) Get(nameOrARN, qualifier string) (*ProvisionedConcurrencyConfig, error) {
	name, q, err := p.target(nameOrARN, qualifier, false)
	if err != nil {
		return nil, err
	}
	p.mu.RLock()
	t, ok := p.configs[versionKey(name, q)]
	p.mu.RUnlock()
	if !ok {
		return nil, p.notFound()
	}
	return p.render(t, false), nil
}

// Delete removes the config of a version or alias; its sandboxes become on-demand ones.
func (p *Provisioned) Delete(ctx context.Context, nameOrARN, qualifier string) error {
	name, q, err := p.target(nameOrARN, qualifier, false)
	if err != nil {
		return err
	}
	key := versionKey(name, q)
	p.mu.RLock()
	_, ok := p.configs[key]
	p.mu.RUnlock()
	if !ok {
		return p.notFound()
	}
	if err := p.kv.Delete(ctx, key); err != nil {
		return fmt.Errorf("control: delete provisioned concurrency %s: %w", key, err)
	}
	p.mu.Lock()
	delete(p.configs, key)
	p.mu.Unlock()
	p.notify()
	return nil
}

// List is the function's configs, a page at a time (MaxItems 1 to 50).
func (p *Provisioned) List(nameOrARN, marker string, maxItems int) ([]*ProvisionedConcurrencyConfig, string, error) {
	name, err := p.reg.parseUnqualified(nameOrARN)
	if err != nil {
		return nil, "", err
	}
	if _, ok := p.reg.Lookup(name); !ok {
		return nil, "", p.reg.notFound(name, "")
	}
	var mine []ProvisionedTarget
	for _, t := range p.Targets() {
		if t.Function == name {
			mine = append(mine, t)
		}
	}
	if maxItems == 0 || maxItems > 50 {
		maxItems = 50
	}
	page, next, err := page(mine, marker, maxItems, func(t ProvisionedTarget) string { return t.Qualifier })
	if err != nil {
		return nil, "", err
	}
	out := make([]*ProvisionedConcurrencyConfig, len(page))
	for i, t := range page {
		out[i] = p.render(t, true)
	}
	return out, next, nil
}

// Forget deletes every config of a deleted function.
func (p *Provisioned) Forget(ctx context.Context, fn string) { p.forget(ctx, fn, "") }

// ForgetQualifier deletes the config of a deleted version or alias.
func (p *Provisioned) ForgetQualifier(ctx context.Context, fn, qualifier string) {
	p.forget(ctx, fn, qualifier)
}

// forget deletes fn's configs: all of them, or qualifier's alone.
func (p *Provisioned) forget(ctx context.Context, fn, qualifier string) {
	for _, t := range p.Targets() {
		if t.Function == fn && (qualifier == "" || t.Qualifier == qualifier) {
			key := versionKey(t.Function, t.Qualifier)
			if err := p.kv.Delete(ctx, key); err != nil {
				p.logger.Warn("could not delete a deleted function's provisioned concurrency config", "function", fn, "err", err)
			}
			p.mu.Lock()
			delete(p.configs, key)
			p.mu.Unlock()
		}
	}
	p.notify()
}
