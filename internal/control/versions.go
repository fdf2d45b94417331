package control

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ember-serverless/ember/internal/lambdaerr"
)

// PublishVersionInput is the body of PublishVersion; FunctionName comes from the path.
type PublishVersionInput struct {
	FunctionName string  `json:"-"`
	CodeSha256   string  `json:"CodeSha256"`
	Description  *string `json:"Description"`
	RevisionId   string  `json:"RevisionId"`
}

// versionKey is the key of a version or an alias in its bucket.
func versionKey(name, qualifier string) string { return name + "." + qualifier }

// splitVersionKey is the function name and qualifier of a key of the versions or aliases bucket.
func splitVersionKey(key string) (name, qualifier string, ok bool) {
	return strings.Cut(key, ".")
}

// isVersionNumber reports whether q names a published version (digits), as opposed to $LATEST
// or an alias.
func isVersionNumber(q string) bool {
	if q == "" {
		return false
	}
	for i := 0; i < len(q); i++ {
		if !isDigit(q[i]) {
			return false
		}
	}
	return true
}

// applyVersionEntry brings one entry of the versions bucket, as the watch delivers it, into
// the cache.
func (r *Registry) applyVersionEntry(e jetstream.KeyValueEntry) {
	name, v, ok := splitVersionKey(e.Key())
	if !ok {
		return
	}
	if e.Operation() != jetstream.KeyValuePut {
		r.applyVersion(name, v, nil, e.Revision())
		return
	}
	f, err := r.decodeRecord(e.Value(), e.Revision())
	if err != nil {
		r.logger.Error("version record unreadable", "function", name, "version", v, "err", err)
		return
	}
	r.applyVersion(name, v, f, e.Revision())
}

// applyVersion records version v of function name (f nil: deleted) at rev unless the cache
// holds a newer revision.
func (r *Registry) applyVersion(name, v string, f *Function, rev uint64) {
	r.mu.Lock()
	vs := r.versions[name]
	if vs == nil {
		vs = make(map[string]cacheEntry)
		r.versions[name] = vs
	}
	cur, ok := vs[v]
	if ok && cur.rev >= rev {
		r.mu.Unlock()
		return
	}
	vs[v] = cacheEntry{f: f, rev: rev}
	var notify []func(string, string)
	if f == nil && cur.f != nil {
		notify = r.onDeleteQualifier
	}
	r.mu.Unlock()
	for _, fn := range notify {
		fn(name, v)
	}
}

// OnDeleteQualifier registers fn to be called with a function's name and a version number or
// alias name each time one published version or alias is deleted on its own (DeleteFunction
// with a version, DeleteAlias), whether through this registry or another sharing the buckets;
// when a whole function is deleted, OnDelete is called instead. fn must not block.
func (r *Registry) OnDeleteQualifier(fn func(name, qualifier string)) {
	r.mu.Lock()
	r.onDeleteQualifier = append(r.onDeleteQualifier, fn)
	r.mu.Unlock()
}

// Version is published version v of function name, from memory.
func (r *Registry) Version(name, v string) (*Function, bool) {
	r.mu.RLock()
	e := r.versions[name][v]
	r.mu.RUnlock()
	return e.f, e.f != nil
}

// publishedVersions is every published version of function name, in number order.
func (r *Registry) publishedVersions(name string) []*Function {
	r.mu.RLock()
	out := make([]*Function, 0, len(r.versions[name]))
	for _, e := range r.versions[name] {
		if e.f != nil {
			out = append(out, e.f)
		}
	}
	r.mu.RUnlock()
	slices.SortFunc(out, func(a, b *Function) int { return versionNumber(a) - versionNumber(b) })
	return out
}

func versionNumber(f *Function) int {
	n, _ := strconv.Atoi(f.Config.Version)
	return n
}

// fingerprint identifies what a version published from f would run and report: its code and
// configuration, without what changes on every write (revision, times, state) and what is the
// function's alone (tags, policy, version bookkeeping).
func (f *Function) fingerprint() string {
	g := f.clone()
	g.Config.RevisionId, g.Config.LastModified, g.Modified = "", "", time.Time{}
	g.Config.State, g.Config.StateReason, g.Config.StateReasonCode = "", "", ""
	g.Config.LastUpdateStatus, g.Config.LastUpdateStatusReason, g.Config.LastUpdateStatusReasonCode = "", "", ""
	g.Tags, g.Policy, g.LastVersion, g.publishPending, g.source = nil, nil, 0, 0, ""
	g.Code.Manifest = nil
	g.Config.Version = LatestVersion
	data, err := encodeRecord(g)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(data)
	return base64.RawStdEncoding.EncodeToString(sum[:])
}

// versionOf is version v of f, published now with description desc (nil: f's own).
func (r *Registry) versionOf(f *Function, v int, desc *string) *Function {
	now := r.now().UTC()
	s := f.clone()
	s.source = f.fingerprint()
	s.Tags, s.Policy, s.LastVersion, s.publishPending = nil, nil, 0, 0
	c := &s.Config
	c.Version = strconv.Itoa(v)
	c.FunctionArn = r.cfg.ARN(f.Name()) + ":" + c.Version
	if desc != nil {
		c.Description = *desc
	}
	c.RevisionId = newUUID()
	c.State, c.StateReason, c.StateReasonCode = StateActive, "", ""
	c.LastUpdateStatus, c.LastUpdateStatusReason, c.LastUpdateStatusReasonCode = UpdateSuccessful, "", ""
	s.Modified = now
	c.LastModified = now.Format(LastModifiedLayout)
	return s
}

// storeVersion writes a published version's record; its number was reserved in the function's
// record first, so nothing else writes that key.
func (r *Registry) storeVersion(ctx context.Context, v *Function) error {
	data, err := encodeRecord(v)
	if err != nil {
		return fmt.Errorf("control: encode %s: %w", v.Config.FunctionArn, err)
	}
	rev, err := r.vkv.Put(ctx, versionKey(v.Name(), v.Config.Version), data)
	if err != nil {
		return fmt.Errorf("control: store %s: %w", v.Config.FunctionArn, err)
	}
	v.revision = rev
	r.applyVersion(v.Name(), v.Config.Version, v, rev)
	r.logger.Info("version published", "function", v.Name(), "version", v.Config.Version, "code_sha256", v.Config.CodeSha256)
	return nil
}

// PublishVersion publishes $LATEST as a new version, as Lambda: CodeSha256 and RevisionId, when
// given, must be $LATEST's; when neither code nor configuration changed since the last version
// was published, that version is returned and nothing is published.
func (r *Registry) PublishVersion(ctx context.Context, in *PublishVersionInput) (*Function, error) {
	name, err := r.parseUnqualified(in.FunctionName)
	if err != nil {
		return nil, err
	}
	if in.Description != nil && len(*in.Description) > MaxDescriptionLen {
		return nil, constraintError(*in.Description, "description", "Member must have length less than or equal to 256")
	}
	var existing, published *Function
	_, err = r.update(ctx, name, func(f *Function) error {
		existing, published = nil, nil
		if err := r.checkUpdatable(f, in.RevisionId); err != nil {
			return err
		}
		if in.CodeSha256 != "" && in.CodeSha256 != f.Config.CodeSha256 {
			return lambdaerr.InvalidParameter("CodeSHA256 (%s) is different from current CodeSHA256 in $LATEST (%s). Please try again with the current CodeSHA256.",
				in.CodeSha256, f.Config.CodeSha256)
		}
		if last := r.latestPublished(name); last != nil && last.source == f.fingerprint() {
			existing = last
			return errUnchanged
		}
		f.LastVersion++
		published = r.versionOf(f, f.LastVersion, in.Description)
		return nil
	})
	if errors.Is(err, errUnchanged) {
		return existing, nil
	}
	if err != nil {
		return nil, err
	}
	if err := r.storeVersion(ctx, published); err != nil {
		return nil, err
	}
	return published, nil
}

// latestPublished is the function's published version with the highest number, nil if none.
func (r *Registry) latestPublished(name string) *Function {
	vs := r.publishedVersions(name)
	if len(vs) == 0 {
		return nil
	}
	return vs[len(vs)-1]
}

// ListVersions is a page of the function's versions, $LATEST first and then the published ones
// in number order: up to maxItems (50 when 0) after marker, and the next page's marker.
func (r *Registry) ListVersions(nameOrARN, marker string, maxItems int) ([]*Function, string, error) {
	name, err := r.parseUnqualified(nameOrARN)
	if err != nil {
		return nil, "", err
	}
	latest, ok := r.Lookup(name)
	if !ok {
		return nil, "", r.notFound(name, "")
	}
	all := append([]*Function{r.qualifiedLatest(latest)}, r.publishedVersions(name)...)
	return page(all, marker, maxItems, func(f *Function) string { return f.Config.Version })
}

// page is up to maxItems (1 to 50; 50 when 0) of all after the item whose id is marker's,
// and the marker of the next page ("" on the last).
func page[T any](all []T, marker string, maxItems int, id func(T) string) ([]T, string, error) {
	if maxItems < 0 {
		return nil, "", constraintError(strconv.Itoa(maxItems), "maxItems", "Member must have value greater than or equal to 1")
	}
	if maxItems == 0 || maxItems > 50 {
		maxItems = 50
	}
	start := 0
	if marker != "" {
		b, err := base64.RawURLEncoding.DecodeString(marker)
		i := -1
		if err == nil {
			i = slices.IndexFunc(all, func(x T) bool { return id(x) == string(b) })
		}
		if i < 0 {
			return nil, "", lambdaerr.InvalidParameter("Invalid Marker: %s", marker)
		}
		start = i + 1
	}
	end := min(start+maxItems, len(all))
	next := ""
	if end < len(all) {
		next = base64.RawURLEncoding.EncodeToString([]byte(id(all[end-1])))
	}
	return all[start:end], next, nil
}

// deleteVersion deletes published version v of function name, refusing while an alias
// routes to it, as Lambda.
func (r *Registry) deleteVersion(ctx context.Context, name, v string) error {
	if _, ok := r.Lookup(name); !ok {
		return r.notFound(name, "")
	}
	cur, ok := r.Version(name, v)
	if !ok {
		return r.notFound(name, v)
	}
	var using []string
	for _, a := range r.functionAliases(name) {
		if a.routesTo(v) {
			using = append(using, a.Config.Name)
		}
	}
	if len(using) > 0 {
		return lambdaerr.New(lambdaerr.ResourceConflict,
			"Unable to delete version because the following aliases reference it: [%s]", strings.Join(using, ", "))
	}
	err := r.vkv.Delete(ctx, versionKey(name, v), jetstream.LastRevision(cur.revision))
	if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return lambdaerr.New(lambdaerr.ResourceConflict,
			"The operation cannot be performed at this time. An update is in progress for resource: %s", cur.Config.FunctionArn)
	}
	if err != nil {
		return fmt.Errorf("control: delete %s: %w", cur.Config.FunctionArn, err)
	}
	r.applyVersion(name, v, nil, cur.revision+1)
	r.logger.Info("version deleted", "function", name, "version", v)
	return nil
}

// dropQualifiers deletes every version and alias record of function name: after the function
// itself is deleted, and before a function of the same name is created, so a crash between the
// two deletes leaves nothing a new function would inherit.
func (r *Registry) dropQualifiers(ctx context.Context, name string) error {
	for _, b := range []jetstream.KeyValue{r.vkv, r.akv} {
		keys, err := b.ListKeysFiltered(ctx, name+".*")
		if err != nil {
			return fmt.Errorf("control: list %s's versions and aliases: %w", name, err)
		}
		for k := range keys.Keys() {
			if err := b.Delete(ctx, k); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
				return fmt.Errorf("control: delete %s: %w", k, err)
			}
		}
	}
	r.mu.Lock()
	for v, e := range r.versions[name] {
		r.versions[name][v] = cacheEntry{rev: e.rev + 1}
	}
	for a, e := range r.aliases[name] {
		r.aliases[name][a] = aliasEntry{rev: e.rev + 1}
	}
	r.mu.Unlock()
	return nil
}

// asPending is what a create or code update with Publish answers: the version it will publish
// when ready (its number and ARN on $LATEST's configuration), or f itself without Publish.
func (f *Function) asPending(r *Registry) *Function {
	if f.publishPending == 0 {
		return f
	}
	g := f.clone()
	g.Config.Version = strconv.Itoa(f.publishPending)
	g.Config.FunctionArn = r.cfg.ARN(f.Name()) + ":" + g.Config.Version
	return g
}

// updateVersionRecord reads published version v of function name, applies mutate to it and
// stores it if the record has not changed since it was read, retrying on a concurrent change.
// Only what is not the version's code or configuration (its policy, its runtime update mode)
// may change.
func (r *Registry) updateVersionRecord(ctx context.Context, name, v string, mutate func(*Function) error) (*Function, error) {
	key := versionKey(name, v)
	for range maxCASAttempts {
		e, err := r.vkv.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return nil, r.notFound(name, v)
		}
		if err != nil {
			return nil, fmt.Errorf("control: read %s: %w", key, err)
		}
		f, err := r.decodeRecord(e.Value(), e.Revision())
		if err != nil {
			return nil, fmt.Errorf("control: version %s: %w", key, err)
		}
		if err := mutate(f); err != nil {
			return nil, err
		}
		data, err := encodeRecord(f)
		if err != nil {
			return nil, fmt.Errorf("control: encode %s: %w", f.Config.FunctionArn, err)
		}
		rev, err := r.vkv.Update(ctx, key, data, e.Revision())
		if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("control: store %s: %w", f.Config.FunctionArn, err)
		}
		f.revision = rev
		r.applyVersion(name, v, f, rev)
		return f, nil
	}
	return nil, lambdaerr.New(lambdaerr.ResourceConflict,
		"The operation cannot be performed at this time. An update is in progress for resource: %s", r.cfg.ARN(name)+":"+v)
}

// ListAllVersions is ListFunctions with FunctionVersion ALL: every function's $LATEST followed
// by its published versions in number order, functions in name order, up to maxItems (50
// when 0) after marker, and the next page's marker.
func (r *Registry) ListAllVersions(marker string, maxItems int) ([]*Function, string, error) {
	var all []*Function
	for _, f := range r.snapshot() {
		all = append(all, r.qualifiedLatest(f))
		all = append(all, r.publishedVersions(f.Name())...)
	}
	return page(all, marker, maxItems, func(f *Function) string { return f.Name() + ":" + f.Config.Version })
}

// qualifiedLatest is $LATEST as a listing of versions shows it: under its qualified ARN
// (NAME:$LATEST), as Lambda lists it beside the published versions.
func (r *Registry) qualifiedLatest(f *Function) *Function {
	g := *f
	g.Config.FunctionArn = r.cfg.ARN(f.Name()) + ":" + LatestVersion
	return &g
}
