package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ember-serverless/ember/internal/lambdaerr"
)

// MaxAliasNameLen is the model's limit on an alias's name.
const MaxAliasNameLen = 128

// AliasConfiguration is Lambda's AliasConfiguration shape.
type AliasConfiguration struct {
	AliasArn        string                     `json:"AliasArn"`
	Name            string                     `json:"Name"`
	FunctionVersion string                     `json:"FunctionVersion"`
	Description     string                     `json:"Description"`
	RoutingConfig   *AliasRoutingConfiguration `json:"RoutingConfig,omitempty"`
	RevisionId      string                     `json:"RevisionId"`
}

// AliasRoutingConfiguration is an alias's traffic shifting: the one additional version and the
// share of invokes it gets (0 to 1).
type AliasRoutingConfiguration struct {
	AdditionalVersionWeights map[string]float64 `json:"AdditionalVersionWeights,omitempty"`
}

// CreateAliasInput is the body of CreateAlias; FunctionName comes from the path.
type CreateAliasInput struct {
	FunctionName    string                     `json:"-"`
	Name            string                     `json:"Name"`
	FunctionVersion string                     `json:"FunctionVersion"`
	Description     string                     `json:"Description"`
	RoutingConfig   *AliasRoutingConfiguration `json:"RoutingConfig"`
}

// UpdateAliasInput is the body of UpdateAlias; FunctionName and Name come from the path. Nil
// members are left as they are; a RoutingConfig without weights removes the routing.
type UpdateAliasInput struct {
	FunctionName    string                     `json:"-"`
	Name            string                     `json:"-"`
	FunctionVersion *string                    `json:"FunctionVersion"`
	Description     *string                    `json:"Description"`
	RoutingConfig   *AliasRoutingConfiguration `json:"RoutingConfig"`
	RevisionId      string                     `json:"RevisionId"`
}

// Alias is one alias of a function. An *Alias returned by the registry is shared and must not
// be modified.
type Alias struct {
	// Function is the bare name of the function the alias belongs to.
	Function string
	Config   AliasConfiguration
	// Policy is the alias's resource-based policy (AddPermission with the alias as Qualifier).
	Policy   []PolicyStatement
	revision uint64
}

// routesTo reports whether the alias sends any invoke to version v.
func (a *Alias) routesTo(v string) bool {
	if a.Config.FunctionVersion == v {
		return true
	}
	if rc := a.Config.RoutingConfig; rc != nil {
		_, ok := rc.AdditionalVersionWeights[v]
		return ok
	}
	return false
}

// aliasEntry is an alias at a KV revision; a is nil for a deleted alias.
type aliasEntry struct {
	a   *Alias
	rev uint64
}

// aliasRecord is an alias as the aliases bucket stores it.
type aliasRecord struct {
	V               int                `json:"v"`
	Function        string             `json:"function"`
	Name            string             `json:"name"`
	FunctionVersion string             `json:"functionVersion"`
	Description     string             `json:"description,omitempty"`
	Weights         map[string]float64 `json:"weights,omitempty"`
	RevisionID      string             `json:"revisionId"`
	Policy          []PolicyStatement  `json:"policy,omitempty"`
}

func encodeAlias(a *Alias) ([]byte, error) {
	rec := aliasRecord{V: recordSchema, Function: a.Function, Name: a.Config.Name,
		FunctionVersion: a.Config.FunctionVersion, Description: a.Config.Description, RevisionID: a.Config.RevisionId,
		Policy: a.Policy}
	if rc := a.Config.RoutingConfig; rc != nil {
		rec.Weights = rc.AdditionalVersionWeights
	}
	return json.Marshal(rec)
}

func (r *Registry) decodeAlias(data []byte, rev uint64) (*Alias, error) {
	var rec aliasRecord
	if err := json.Unmarshal(data, &rec); err != nil {
		return nil, err
	}
	if rec.V > recordSchema {
		return nil, fmt.Errorf("schema %d (this server reads up to %d): %w", rec.V, recordSchema, errNewerRecord)
	}
	a := &Alias{Function: rec.Function, revision: rev, Policy: rec.Policy, Config: AliasConfiguration{
		AliasArn: r.cfg.ARN(rec.Function) + ":" + rec.Name, Name: rec.Name, FunctionVersion: rec.FunctionVersion,
		Description: rec.Description, RevisionId: rec.RevisionID,
	}}
	if len(rec.Weights) > 0 {
		a.Config.RoutingConfig = &AliasRoutingConfiguration{AdditionalVersionWeights: rec.Weights}
	}
	return a, nil
}

// applyAliasEntry brings one entry of the aliases bucket into the cache.
func (r *Registry) applyAliasEntry(e jetstream.KeyValueEntry) {
	name, alias, ok := splitVersionKey(e.Key())
	if !ok {
		return
	}
	if e.Operation() != jetstream.KeyValuePut {
		r.applyAlias(name, alias, nil, e.Revision())
		return
	}
	a, err := r.decodeAlias(e.Value(), e.Revision())
	if err != nil {
		r.logger.Error("alias record unreadable", "function", name, "alias", alias, "err", err)
		return
	}
	r.applyAlias(name, alias, a, e.Revision())
}

func (r *Registry) applyAlias(name, alias string, a *Alias, rev uint64) {
	r.mu.Lock()
	as := r.aliases[name]
	if as == nil {
		as = make(map[string]aliasEntry)
		r.aliases[name] = as
	}
	cur, ok := as[alias]
	if ok && cur.rev >= rev {
		r.mu.Unlock()
		return
	}
	as[alias] = aliasEntry{a: a, rev: rev}
	var notify []func(string, string)
	if a == nil && cur.a != nil {
		notify = r.onDeleteQualifier
	}
	r.mu.Unlock()
	for _, fn := range notify {
		fn(name, alias)
	}
}

// Alias is alias a of function name, from memory.
func (r *Registry) Alias(name, a string) (*Alias, bool) {
	r.mu.RLock()
	e := r.aliases[name][a]
	r.mu.RUnlock()
	return e.a, e.a != nil
}

// functionAliases is every alias of function name, in name order.
func (r *Registry) functionAliases(name string) []*Alias {
	r.mu.RLock()
	out := make([]*Alias, 0, len(r.aliases[name]))
	for _, e := range r.aliases[name] {
		if e.a != nil {
			out = append(out, e.a)
		}
	}
	r.mu.RUnlock()
	slices.SortFunc(out, func(a, b *Alias) int { return strings.Compare(a.Config.Name, b.Config.Name) })
	return out
}

// aliasTarget parses the FunctionName and alias name of an alias operation.
func (r *Registry) aliasTarget(nameOrARN, alias string) (string, error) {
	name, q, err := r.cfg.ParseFunctionName(nameOrARN, MaxFunctionNameLen)
	if err != nil {
		return "", err
	}
	if q != "" {
		return "", lambdaerr.InvalidParameter("Unqualified function name expected: %s", nameOrARN)
	}
	if err := validateAliasName(alias); err != nil {
		return "", err
	}
	if _, ok := r.Lookup(name); !ok {
		return "", r.notFound(name, "")
	}
	return name, nil
}

func validateAliasName(a string) error {
	const pattern = "Member must satisfy regular expression pattern: (?!^[0-9]+$)([a-zA-Z0-9-_]+)"
	switch {
	case a == "":
		return constraintError(a, "name", "Member must have length greater than or equal to 1")
	case len(a) > MaxAliasNameLen:
		return constraintError(a, "name", "Member must have length less than or equal to 128")
	case !validBareName(a) || isVersionNumber(a):
		return constraintError(a, "name", pattern)
	}
	return nil
}

// checkAliasTarget checks that an alias of function name may route to version v with
// routing rc, as Lambda: v exists ($LATEST or published), and the additional version is one
// other published version with a weight from 0 to 1.
func (r *Registry) checkAliasTarget(name, v string, rc *AliasRoutingConfiguration) error {
	if v == "" || (v != LatestVersion && !isVersionNumber(v)) || len(v) > 1024 {
		return constraintError(v, "functionVersion", `Member must satisfy regular expression pattern: (\$LATEST|[0-9]+)`)
	}
	if v != LatestVersion {
		if _, ok := r.Version(name, v); !ok {
			return r.notFound(name, v)
		}
	}
	if rc == nil || len(rc.AdditionalVersionWeights) == 0 {
		return nil
	}
	if len(rc.AdditionalVersionWeights) > 1 {
		return lambdaerr.InvalidParameter("Number of items in AdditionalVersionWeights cannot be greater than 1")
	}
	for extra, w := range rc.AdditionalVersionWeights {
		if !isVersionNumber(extra) {
			return constraintError(extra, "routingConfig.additionalVersionWeights",
				"Map keys must satisfy constraint: [Member must satisfy regular expression pattern: [0-9]+]")
		}
		if w < 0 || w > 1 {
			return constraintError(strconv.FormatFloat(w, 'f', -1, 64), "routingConfig.additionalVersionWeights",
				"Map value must satisfy constraint: [Member must have value less than or equal to 1.0, Member must have value greater than or equal to 0.0]")
		}
		if v == LatestVersion {
			return lambdaerr.InvalidParameter("Invalid function version %s. Function version %s is not supported for routing configuration.", v, v)
		}
		if extra == v {
			return lambdaerr.InvalidParameter("Invalid function version %s. Function version %s is already included in routing configuration.", extra, extra)
		}
		if _, ok := r.Version(name, extra); !ok {
			return r.notFound(name, extra)
		}
	}
	return nil
}

func cloneRouting(rc *AliasRoutingConfiguration) *AliasRoutingConfiguration {
	if rc == nil || len(rc.AdditionalVersionWeights) == 0 {
		return nil
	}
	return &AliasRoutingConfiguration{AdditionalVersionWeights: maps.Clone(rc.AdditionalVersionWeights)}
}

// CreateAlias creates an alias of a function for a version, optionally routing a share of
// invokes to one other version.
func (r *Registry) CreateAlias(ctx context.Context, in *CreateAliasInput) (*Alias, error) {
	name, err := r.aliasTarget(in.FunctionName, in.Name)
	if err != nil {
		return nil, err
	}
	if len(in.Description) > MaxDescriptionLen {
		return nil, constraintError(in.Description, "description", "Member must have length less than or equal to 256")
	}
	if err := r.checkAliasTarget(name, in.FunctionVersion, in.RoutingConfig); err != nil {
		return nil, err
	}
	a := &Alias{Function: name, Config: AliasConfiguration{
		AliasArn: r.cfg.ARN(name) + ":" + in.Name, Name: in.Name, FunctionVersion: in.FunctionVersion,
		Description: in.Description, RoutingConfig: cloneRouting(in.RoutingConfig), RevisionId: newUUID(),
	}}
	data, err := encodeAlias(a)
	if err != nil {
		return nil, fmt.Errorf("control: encode %s: %w", a.Config.AliasArn, err)
	}
	rev, err := r.akv.Create(ctx, versionKey(name, in.Name), data)
	if errors.Is(err, jetstream.ErrKeyExists) {
		return nil, lambdaerr.New(lambdaerr.ResourceConflict, "Alias already exists: %s", a.Config.AliasArn)
	}
	if err != nil {
		return nil, fmt.Errorf("control: store %s: %w", a.Config.AliasArn, err)
	}
	a.revision = rev
	r.applyAlias(name, in.Name, a, rev)
	r.logger.Info("alias created", "function", name, "alias", in.Name, "version", in.FunctionVersion)
	return a, nil
}

// GetAlias is an alias of a function.
func (r *Registry) GetAlias(nameOrARN, alias string) (*Alias, error) {
	name, err := r.aliasTarget(nameOrARN, alias)
	if err != nil {
		return nil, err
	}
	a, ok := r.Alias(name, alias)
	if !ok {
		return nil, r.aliasNotFound(name, alias)
	}
	return a, nil
}

func (r *Registry) aliasNotFound(name, alias string) error {
	return fmt.Errorf("%w: %w", lambdaerr.NotFound("Alias", r.cfg.ARN(name)+":"+alias), ErrNotFound)
}

// UpdateAlias changes an alias's version, description or routing; RevisionId, when given, must
// be the alias's current one.
func (r *Registry) UpdateAlias(ctx context.Context, in *UpdateAliasInput) (*Alias, error) {
	name, err := r.aliasTarget(in.FunctionName, in.Name)
	if err != nil {
		return nil, err
	}
	if in.Description != nil && len(*in.Description) > MaxDescriptionLen {
		return nil, constraintError(*in.Description, "description", "Member must have length less than or equal to 256")
	}
	a, err := r.updateAliasRecord(ctx, name, in.Name, func(a *Alias) error {
		if in.RevisionId != "" && in.RevisionId != a.Config.RevisionId {
			return lambdaerr.New(lambdaerr.PreconditionFailed, "%s", msgRevisionMismatch)
		}
		c := &a.Config
		if in.FunctionVersion != nil {
			c.FunctionVersion = *in.FunctionVersion
		}
		if in.Description != nil {
			c.Description = *in.Description
		}
		if in.RoutingConfig != nil {
			c.RoutingConfig = cloneRouting(in.RoutingConfig)
		}
		if err := r.checkAliasTarget(name, c.FunctionVersion, c.RoutingConfig); err != nil {
			return err
		}
		c.RevisionId = newUUID()
		return nil
	})
	if err != nil {
		return nil, err
	}
	r.logger.Info("alias updated", "function", name, "alias", in.Name, "version", a.Config.FunctionVersion)
	return a, nil
}

// updateAliasRecord reads alias of function name, applies mutate to it and stores it if the
// record has not changed since it was read, retrying on a concurrent change.
func (r *Registry) updateAliasRecord(ctx context.Context, name, alias string, mutate func(*Alias) error) (*Alias, error) {
	key := versionKey(name, alias)
	for range maxCASAttempts {
		e, err := r.akv.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return nil, r.aliasNotFound(name, alias)
		}
		if err != nil {
			return nil, fmt.Errorf("control: read %s: %w", key, err)
		}
		a, err := r.decodeAlias(e.Value(), e.Revision())
		if err != nil {
			return nil, fmt.Errorf("control: alias %s: %w", key, err)
		}
		if err := mutate(a); err != nil {
			return nil, err
		}
		data, err := encodeAlias(a)
		if err != nil {
			return nil, fmt.Errorf("control: encode %s: %w", a.Config.AliasArn, err)
		}
		rev, err := r.akv.Update(ctx, key, data, e.Revision())
		if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("control: store %s: %w", a.Config.AliasArn, err)
		}
		a.revision = rev
		r.applyAlias(name, alias, a, rev)
		return a, nil
	}
	return nil, lambdaerr.New(lambdaerr.ResourceConflict,
		"The operation cannot be performed at this time. An update is in progress for resource: %s", r.cfg.ARN(name)+":"+alias)
}

// DeleteAlias deletes an alias; deleting one that does not exist succeeds, as in Lambda.
func (r *Registry) DeleteAlias(ctx context.Context, nameOrARN, alias string) error {
	name, err := r.aliasTarget(nameOrARN, alias)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	a, ok := r.Alias(name, alias)
	if !ok {
		return nil
	}
	if err := r.akv.Delete(ctx, versionKey(name, alias)); err != nil {
		return fmt.Errorf("control: delete %s: %w", a.Config.AliasArn, err)
	}
	r.applyAlias(name, alias, nil, a.revision+1)
	r.logger.Info("alias deleted", "function", name, "alias", alias)
	return nil
}

// ListAliases is a page of a function's aliases in name order, only those routing to version
// when it is not empty.
func (r *Registry) ListAliases(nameOrARN, version, marker string, maxItems int) ([]*Alias, string, error) {
	name, q, err := r.cfg.ParseFunctionName(nameOrARN, MaxFunctionNameLen)
	if err != nil {
		return nil, "", err
	}
	if q != "" {
		return nil, "", lambdaerr.InvalidParameter("Unqualified function name expected: %s", nameOrARN)
	}
	if version != "" && version != LatestVersion && !isVersionNumber(version) {
		return nil, "", constraintError(version, "functionVersion", `Member must satisfy regular expression pattern: (\$LATEST|[0-9]+)`)
	}
	if _, ok := r.Lookup(name); !ok {
		return nil, "", r.notFound(name, "")
	}
	all := r.functionAliases(name)
	if version != "" {
		all = slices.DeleteFunc(all, func(a *Alias) bool { return !a.routesTo(version) })
	}
	return page(all, marker, maxItems, func(a *Alias) string { return a.Config.Name })
}

// Target is what a qualifier names: the function version its invokes run, and for an alias,
// the alias and its routing.
type Target struct {
	// Function is $LATEST or a published version (Config.Version says which); for an alias,
	// its primary version.
	Function *Function
	// Alias is the alias the qualifier named, nil for a version or $LATEST.
	Alias *Alias
	// Additional is the alias's additional version (nil without routing), which gets Weight of
	// the invokes.
	Additional *Function
	Weight     float64
}

// Pick is the version one invoke runs: the additional version with probability Weight, else
// Function.
func (t Target) Pick() *Function {
	if t.Additional != nil && rand.Float64() < t.Weight {
		return t.Additional
	}
	return t.Function
}

// Target resolves a parsed function name and qualifier ("" or $LATEST, a version number, an
// alias) to the versions it names, from memory.
func (r *Registry) Target(name, q string) (Target, error) {
	f, ok := r.Lookup(name)
	if !ok {
		return Target{}, r.notFound(name, "")
	}
	switch {
	case q == "" || q == LatestVersion:
		return Target{Function: f}, nil
	case isVersionNumber(q):
		v, ok := r.Version(name, q)
		if !ok {
			return Target{}, r.notFound(name, q)
		}
		return Target{Function: v}, nil
	}
	a, ok := r.Alias(name, q)
	if !ok {
		return Target{}, r.notFound(name, q)
	}
	t := Target{Function: f, Alias: a}
	if a.Config.FunctionVersion != LatestVersion {
		if t.Function, ok = r.Version(name, a.Config.FunctionVersion); !ok {
			return Target{}, r.notFound(name, q)
		}
	}
	if rc := a.Config.RoutingConfig; rc != nil {
		for extra, w := range rc.AdditionalVersionWeights {
			if v, ok := r.Version(name, extra); ok {
				t.Additional, t.Weight = v, w
			}
		}
	}
	return t, nil
}
