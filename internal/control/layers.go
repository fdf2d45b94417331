package control

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ember-serverless/ember/internal/lambdaerr"
	"github.com/ember-serverless/ember/internal/state"
)

// DefaultLayerBucket is the KV bucket holding layer versions when Config.LayerBucket is empty.
const DefaultLayerBucket = "layers"

// ErrLayerNotFound is wrapped by the errors returned for a layer version that does not exist.
var ErrLayerNotFound = errors.New("layer version not found")

// Layers is the layer registry: every published layer version, in its own KV bucket with one
// record per version (key "<name>.<version>") and one per layer holding the last version number
// given out (key "<name>"), so numbers are never reused, as in Lambda, even after every version
// was deleted. Like the function registry it keeps every record in memory, current by watching
// the bucket. It is safe for concurrent use.
type Layers struct {
	cfg    Config
	kv     jetstream.KeyValue
	code   CodeWriter
	logger *slog.Logger
	now    func() time.Time

	mu    sync.RWMutex
	cache map[string]layerEntry // by KV key; counters are not cached

	watch *state.KeyWatch
}

// layerEntry is a layer version at a KV revision; v is nil once deleted.
type layerEntry struct {
	v   *LayerVersion
	rev uint64
}

// layerCounter is the record of a layer's last version number.
type layerCounter struct {
	Last int64 `json:"last"`
}

func layerKey(name string, version int64) string { return name + "." + strconv.FormatInt(version, 10) }

// openLayers creates (or opens) the layers bucket and loads it.
func openLayers(ctx context.Context, st *state.State, cfg Config, code CodeWriter, logger *slog.Logger, now func() time.Time) (*Layers, error) {
	bucket := cfg.LayerBucket
	if bucket == "" {
		bucket = DefaultLayerBucket
	}
	kv, err := st.JetStream().CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      bucket,
		Description: "Ember layer versions: metadata and archive manifest; and each layer's last version number",
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    max(st.Replicas(), 1),
	})
	if err != nil {
		return nil, fmt.Errorf("control: bucket %s: %w", bucket, err)
	}
	l := &Layers{cfg: cfg, kv: kv, code: code, logger: logger, now: now, cache: map[string]layerEntry{}}
	if l.watch, err = state.WatchKeys(ctx, kv, l.applyEntry); err != nil {
		return nil, fmt.Errorf("control: %w", err)
	}
	return l, nil
}

func (l *Layers) close() { l.watch.Stop() }

// applyEntry brings one entry of the layers bucket, as the watch delivers it, into the cache.
func (l *Layers) applyEntry(e jetstream.KeyValueEntry) {
	if !strings.Contains(e.Key(), ".") {
		return // a layer's version counter
	}
	if e.Operation() != jetstream.KeyValuePut {
		l.apply(e.Key(), nil, e.Revision())
		return
	}
	var v LayerVersion
	if err := json.Unmarshal(e.Value(), &v); err != nil {
		l.logger.Error("layer version record unreadable", "layer", e.Key(), "err", err)
		return
	}
	l.apply(e.Key(), &v, e.Revision())
}

// apply records v (nil: deleted) at rev unless the cache holds a newer revision.
func (l *Layers) apply(key string, v *LayerVersion, rev uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if cur, ok := l.cache[key]; ok && cur.rev >= rev {
		return
	}
	l.cache[key] = layerEntry{v: v, rev: rev}
}

// codeSize is the total size of every live layer version's archive.
func (l *Layers) codeSize() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var n int64
	for _, e := range l.cache {
		if e.v != nil {
			n += e.v.Code.Size
		}
	}
	return n
}

func (l *Layers) lookup(name string, version int64) (*LayerVersion, bool) {
	l.mu.RLock()
	e := l.cache[layerKey(name, version)]
	l.mu.RUnlock()
	return e.v, e.v != nil
}

// versions is every live version of the layer named name ("" for every layer), newest first
// within a layer and layers in name order.
func (l *Layers) versions(name string) []*LayerVersion {
	l.mu.RLock()
	var out []*LayerVersion
	for _, e := range l.cache {
		if e.v != nil && (name == "" || e.v.Name == name) {
			out = append(out, e.v)
		}
	}
	l.mu.RUnlock()
	slices.SortFunc(out, func(a, b *LayerVersion) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return -cmpInt64(a.Version, b.Version)
	})
	return out
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (l *Layers) notFound() error {
	return fmt.Errorf("%w: %w", lambdaerr.New(lambdaerr.ResourceNotFound, "The resource you requested does not exist."), ErrLayerNotFound)
}

// Publish stores a new version of a layer, creating the layer on its first version.
func (l *Layers) Publish(ctx context.Context, in *PublishLayerVersionInput) (*LayerVersion, error) {
	name, err := l.cfg.ParseLayerName(in.LayerName)
	if err != nil {
		return nil, err
	}
	if in.Content == nil {
		return nil, lambdaerr.InvalidParameter("1 validation error detected: Value null at 'content' failed to satisfy constraint: Member must not be null")
	}
	c := in.Content
	if err := checkSource(c.ZipFile, c.S3Bucket, c.S3Key, c.S3ObjectVersion, ""); err != nil {
		return nil, err
	}
	if err := validateLayerMeta(in); err != nil {
		return nil, err
	}
	stored, err := l.code.Put(ctx, c.ZipFile)
	if err != nil {
		return nil, fmt.Errorf("control: store layer %s: %w", name, err)
	}
	sum := sha256.Sum256(c.ZipFile)
	code := Code{Sha256: base64.StdEncoding.EncodeToString(sum[:]), Size: int64(len(c.ZipFile)),
		UnzippedSize: stored.UnzippedSize, Manifest: stored.Manifest}
	version, err := l.nextVersion(ctx, name)
	if err != nil {
		return nil, err
	}
	v := &LayerVersion{
		Name:                    name,
		Version:                 version,
		LayerArn:                l.cfg.LayerARN(name),
		Description:             in.Description,
		CompatibleRuntimes:      slices.Clone(in.CompatibleRuntimes),
		CompatibleArchitectures: slices.Clone(in.CompatibleArchitectures),
		LicenseInfo:             in.LicenseInfo,
		Created:                 l.now().UTC(),
		Code:                    code,
	}
	data, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("control: encode layer %s: %w", name, err)
	}
	key := layerKey(name, version)
	rev, err := l.kv.Create(ctx, key, data)
	if err != nil {
		return nil, fmt.Errorf("control: store layer %s: %w", key, err)
	}
	l.apply(key, v, rev)
	l.logger.Info("layer version published", "layer", name, "version", version, "code_sha256", code.Sha256)
	return v, nil
}

// nextVersion takes the layer's next version number, compare-and-set on its counter.
func (l *Layers) nextVersion(ctx context.Context, name string) (int64, error) {
	for range maxCASAttempts {
		e, err := l.kv.Get(ctx, name)
		var c layerCounter
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
			data, _ := json.Marshal(layerCounter{Last: 1})
			_, err = l.kv.Create(ctx, name, data)
			if err == nil {
				return 1, nil
			}
		case err != nil:
			return 0, fmt.Errorf("control: read layer %s: %w", name, err)
		default:
			if err := json.Unmarshal(e.Value(), &c); err != nil {
				return 0, fmt.Errorf("control: layer %s counter: %w", name, err)
			}
			c.Last++
			data, _ := json.Marshal(c)
			_, err = l.kv.Update(ctx, name, data, e.Revision())
			if err == nil {
				return c.Last, nil
			}
		}
		if !errors.Is(err, jetstream.ErrKeyExists) && !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			return 0, fmt.Errorf("control: layer %s counter: %w", name, err)
		}
	}
	return 0, lambdaerr.New(lambdaerr.TooManyRequests, "Too many concurrent PublishLayerVersion requests for layer %s", name)
}

// Get returns a version of the layer named by nameOrARN.
func (l *Layers) Get(nameOrARN string, version int64) (*LayerVersion, error) {
	name, err := l.cfg.ParseLayerName(nameOrARN)
	if err != nil {
		return nil, err
	}
	if err := validateLayerVersionNumber(version); err != nil {
		return nil, err
	}
	v, ok := l.lookup(name, version)
	if !ok {
		return nil, l.notFound()
	}
	return v, nil
}

// GetByARN returns the layer version a layer version ARN names.
func (l *Layers) GetByARN(arn string) (*LayerVersion, error) {
	name, version, ok, err := l.cfg.parseLayerVersionARN(arn)
	if !ok {
		return nil, constraintError(arn, "arn", "Member must satisfy regular expression pattern: "+layerVersionArnPattern)
	}
	if err != nil {
		return nil, err
	}
	v, found := l.lookup(name, version)
	if !found {
		return nil, l.notFound()
	}
	return v, nil
}

// List returns, for up to maxItems layers (1 to 50; 50 when 0) in name order after marker, each
// layer's newest version compatible with runtime and arch ("" for any), and the marker of the
// next page ("" on the last). Layers without such a version are left out.
func (l *Layers) List(runtime, arch, marker string, maxItems int) ([]*LayersListItem, string, error) {
	if err := ValidateLayerFilters(runtime, arch); err != nil {
		return nil, "", err
	}
	maxItems, after, err := pageArgs(marker, maxItems)
	if err != nil {
		return nil, "", err
	}
	var out []*LayersListItem
	next := ""
	for _, v := range l.versions("") {
		if v.Name <= after || !v.matches(runtime, arch) || (len(out) > 0 && out[len(out)-1].LayerName == v.Name) {
			continue
		}
		if len(out) == maxItems {
			next = base64.RawURLEncoding.EncodeToString([]byte(out[len(out)-1].LayerName))
			break
		}
		out = append(out, &LayersListItem{LayerName: v.Name, LayerArn: v.LayerArn, LatestMatchingVersion: v.ListItem()})
	}
	return out, next, nil
}

// ListVersions returns up to maxItems (1 to 50; 50 when 0) versions of a layer compatible with
// runtime and arch, newest first after marker, and the marker of the next page. A layer with no
// versions has an empty list, as in Lambda.
func (l *Layers) ListVersions(nameOrARN, runtime, arch, marker string, maxItems int) ([]*LayerVersion, string, error) {
	name, err := l.cfg.ParseLayerName(nameOrARN)
	if err != nil {
		return nil, "", err
	}
	if err := ValidateLayerFilters(runtime, arch); err != nil {
		return nil, "", err
	}
	maxItems, after, err := pageArgs(marker, maxItems)
	if err != nil {
		return nil, "", err
	}
	var before int64 = -1
	if after != "" {
		if before, err = strconv.ParseInt(after, 10, 64); err != nil {
			return nil, "", lambdaerr.InvalidParameter("Invalid Marker: %s", marker)
		}
	}
	out := []*LayerVersion{}
	next := ""
	for _, v := range l.versions(name) {
		if (before >= 0 && v.Version >= before) || !v.matches(runtime, arch) {
			continue
		}
		if len(out) == maxItems {
			next = base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(out[len(out)-1].Version, 10)))
			break
		}
		out = append(out, v)
	}
	return out, next, nil
}

// pageArgs checks a list operation's MaxItems and decodes its Marker.
func pageArgs(marker string, maxItems int) (int, string, error) {
	if maxItems < 0 || maxItems > MaxLayerListItems {
		return 0, "", constraintError(strconv.Itoa(maxItems), "maxItems",
			"Member must have value less than or equal to 50 and greater than or equal to 1")
	}
	if maxItems == 0 {
		maxItems = MaxLayerListItems
	}
	if marker == "" {
		return maxItems, "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(marker)
	if err != nil || !validBareName(string(b)) {
		return 0, "", lambdaerr.InvalidParameter("Invalid Marker: %s", marker)
	}
	return maxItems, string(b), nil
}

// Delete deletes a layer version. Deleting one that does not exist succeeds, as in Lambda.
// Functions that use the version keep its content (their records hold its manifest).
func (l *Layers) Delete(ctx context.Context, nameOrARN string, version int64) error {
	name, err := l.cfg.ParseLayerName(nameOrARN)
	if err != nil {
		return err
	}
	if err := validateLayerVersionNumber(version); err != nil {
		return err
	}
	key := layerKey(name, version)
	e, err := l.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("control: read layer %s: %w", key, err)
	}
	err = l.kv.Delete(ctx, key, jetstream.LastRevision(e.Revision()))
	if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return nil // deleted (or never rewritten: versions are immutable) by someone else meanwhile
	}
	if err != nil {
		return fmt.Errorf("control: delete layer %s: %w", key, err)
	}
	l.apply(key, nil, e.Revision()+1)
	l.logger.Info("layer version deleted", "layer", name, "version", version)
	return nil
}

// resolveFunctionLayers checks a function's Layers member as Lambda does and returns the layers
// as the function's configuration lists them, with each one's stored archive, in order.
func (l *Layers) resolveFunctionLayers(arns []string) ([]Layer, []Code, error) {
	if len(arns) == 0 {
		return nil, nil, nil
	}
	if len(arns) > MaxFunctionLayers {
		return nil, nil, lambdaerr.InvalidParameter("Cannot reference more than %d layers.", MaxFunctionLayers)
	}
	layers := make([]Layer, 0, len(arns))
	codes := make([]Code, 0, len(arns))
	seen := map[string]string{}
	for _, arn := range arns {
		name, version, ok, err := l.cfg.parseLayerVersionARN(arn)
		if !ok {
			return nil, nil, functionLayersError(arns)
		}
		if err != nil {
			return nil, nil, err
		}
		v, found := l.lookup(name, version)
		if !found {
			return nil, nil, fmt.Errorf("%w: %w", lambdaerr.InvalidParameter("Layer version %s does not exist.", arn), ErrLayerNotFound)
		}
		if prev, dup := seen[name]; dup {
			return nil, nil, lambdaerr.InvalidParameter("Two different versions of the same layer are not allowed to be referenced "+
				"in the same function. %s and %s are versions of the same layer.", prev, arn)
		}
		seen[name] = arn
		layers = append(layers, Layer{Arn: v.Arn(), CodeSize: v.Code.Size})
		codes = append(codes, v.Code)
	}
	return layers, codes, nil
}
