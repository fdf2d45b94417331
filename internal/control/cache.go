package control

import (
	"encoding/base64"
	"fmt"
	"slices"
	"strings"

	"github.com/ember-serverless/ember/internal/lambdaerr"
	"github.com/nats-io/nats.go/jetstream"
)

// applyEntry brings one entry of the functions bucket, as the watch delivers it, into the cache.
func (r *Registry) applyEntry(e jetstream.KeyValueEntry) {
	if e.Operation() != jetstream.KeyValuePut {
		r.apply(e.Key(), nil, e.Revision())
		return
	}
	f, err := r.decodeRecord(e.Value(), e.Revision())
	if err != nil {
		r.logger.Error("function record unreadable", "function", e.Key(), "err", err)
		return
	}
	r.apply(e.Key(), f, e.Revision())
}

// OnDelete registers fn to be called with a function's name each time a function this registry
// knew is deleted, whether through this registry or another one sharing the bucket. fn is called
// once per deletion, after the registry itself has forgotten the function, and must not block:
// it runs on the path that saw the deletion (the deleting request or the bucket's watch).
func (r *Registry) OnDelete(fn func(name string)) {
	r.mu.Lock()
	r.onDelete = append(r.onDelete, fn)
	r.mu.Unlock()
}

// apply records f (nil: deleted) at rev in the cache unless the cache already holds a newer
// revision, and tells the OnDelete callbacks when a function it held is gone.
func (r *Registry) apply(name string, f *Function, rev uint64) {
	r.mu.Lock()
	cur, ok := r.cache[name]
	if ok && cur.rev >= rev {
		r.mu.Unlock()
		return
	}
	r.cache[name] = cacheEntry{f: f, rev: rev}
	r.reserved.Add(int64(reservedOf(f) - reservedOf(cur.f)))
	var notify []func(string)
	if f == nil && cur.f != nil {
		notify = r.onDelete
	}
	r.mu.Unlock()
	for _, fn := range notify {
		fn(name)
	}
}

// Lookup returns a function by bare name from memory, without a store round trip: the invoke
// path's read. The *Function is shared and must not be modified.
func (r *Registry) Lookup(name string) (*Function, bool) {
	r.mu.RLock()
	e := r.cache[name]
	r.mu.RUnlock()
	return e.f, e.f != nil
}

// Resolve turns a FunctionName (name, partial or full ARN, optionally qualified) and a
// ?Qualifier= value into the function version it names, for the control plane's reads: an
// alias names its primary version, reported under the alias's ARN as Lambda does.
func (r *Registry) Resolve(nameOrARN, qualifier string) (*Function, error) {
	name, q, err := r.cfg.ParseQualifiedName(nameOrARN, qualifier, MaxNamespacedFunctionNameLen)
	if err != nil {
		return nil, err
	}
	t, err := r.Target(name, q)
	if err != nil {
		return nil, err
	}
	if t.Alias == nil {
		return t.Function, nil
	}
	f := t.Function.clone()
	f.Config.FunctionArn = t.Alias.Config.AliasArn
	return f, nil
}

// ResolveName is the version an invoke of a name already parsed (a bare function name, never
// an ARN) and the one qualifier the request named runs: for an alias with routing, the
// version picked for this invoke.
func (r *Registry) ResolveName(name, q string) (*Function, error) {
	if q == "" {
		if f, ok := r.Lookup(name); ok {
			return f, nil
		}
	}
	t, err := r.Target(name, q)
	if err != nil {
		return nil, err
	}
	return t.Pick(), nil
}

func (r *Registry) notFound(name, qualifier string) error {
	arn := r.cfg.ARN(name)
	if qualifier != "" {
		arn += ":" + qualifier
	}
	return fmt.Errorf("%w: %w", lambdaerr.NotFound("Function", arn), ErrNotFound)
}

// List returns up to maxItems functions (1 to 50; 50 when 0) in name order, after marker, and
// the marker of the next page ("" on the last).
func (r *Registry) List(marker string, maxItems int) ([]*Function, string, error) {
	if maxItems < 0 || maxItems == 0 {
		if maxItems < 0 {
			return nil, "", constraintError(fmt.Sprint(maxItems), "maxItems", "Member must have value greater than or equal to 1")
		}
		maxItems = 50
	}
	if maxItems > 50 {
		maxItems = 50
	}
	after := ""
	if marker != "" {
		b, err := base64.RawURLEncoding.DecodeString(marker)
		if err != nil || !validBareName(string(b)) {
			return nil, "", lambdaerr.InvalidParameter("Invalid Marker: %s", marker)
		}
		after = string(b)
	}
	all := r.snapshot()
	out := make([]*Function, 0, min(maxItems, len(all)))
	next := ""
	for _, f := range all {
		if f.Name() <= after {
			continue
		}
		if len(out) == maxItems {
			next = base64.RawURLEncoding.EncodeToString([]byte(out[len(out)-1].Name()))
			break
		}
		out = append(out, f)
	}
	return out, next, nil
}

// snapshot is every live function, sorted by name.
func (r *Registry) snapshot() []*Function {
	r.mu.RLock()
	fs := make([]*Function, 0, len(r.cache))
	for _, e := range r.cache {
		if e.f != nil {
			fs = append(fs, e.f)
		}
	}
	r.mu.RUnlock()
	sortByName(fs)
	return fs
}

// Usage is the number of functions and the total size of their code and of the layers' archives,
// for GetAccountSettings.
func (r *Registry) Usage() (functions, totalCodeSize int64) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, e := range r.cache {
		if e.f != nil {
			functions++
			totalCodeSize += e.f.Code.Size
		}
	}
	return functions, totalCodeSize + r.layers.codeSize()
}

func sortByName(fs []*Function) {
	slices.SortFunc(fs, func(a, b *Function) int { return strings.Compare(a.Name(), b.Name()) })
}
