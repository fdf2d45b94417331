package control

import (
	"github.com/google/uuid"

	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
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
	"github.com/ember-serverless/ember/internal/state"
)

// Defaults, in one place.
const (
	DefaultRegion    = "us-east-1"
	DefaultAccountID = "000000000000"
	DefaultBucket    = "functions"
	// MaxZippedSize is Lambda's limit on a package uploaded directly (Code.ZipFile).
	MaxZippedSize = 52428800
	// maxCASAttempts bounds the read-modify-write retries of one update under contention.
	maxCASAttempts = 16
)

// Lambda's messages for the states an update can run into.
const (
	msgRevisionMismatch = "The Revision Id provided does not match the latest Revision Id. " +
		"Call the GetFunction/GetAlias API to retrieve the latest Revision Id"
	msgCreating = "The function is being created."
)

// ErrNotFound is wrapped by the ResourceNotFoundException the registry returns for a function
// that does not exist, so callers can test for it with errors.Is.
var ErrNotFound = errors.New("function not found")

// Config says which region and account the registry's ARNs are in and where records live.
type Config struct {
	Region    string
	AccountID string
	// Bucket is the KV bucket holding one record per function ("functions" when empty).
	Bucket string
	// LayerBucket is the KV bucket holding layer versions ("layers" when empty).
	LayerBucket string
}

// Validate reports the first thing wrong with the config.
func (c Config) Validate() error {
	if c.Region == "" || !validRegion(c.Region) {
		return fmt.Errorf("control: region %q is not a region name", c.Region)
	}
	if !validAccount(c.AccountID) {
		return fmt.Errorf("control: account id %q: must be 12 digits", c.AccountID)
	}
	return nil
}

// StoredCode is what a code store reports about a package it stored.
type StoredCode struct {
	UnzippedSize int64
	// Manifest is the store's record of the package, kept in the function's record as is.
	Manifest json.RawMessage
}

// CodeWriter stores deployment packages. Put validates the zip (returning a *lambdaerr.Error
// such as InvalidParameterValueException for a bad package) and stores it.
type CodeWriter interface {
	Put(ctx context.Context, zip []byte) (StoredCode, error)
}

// PrepareFunc makes a function's code and configuration ready to run (for example unpacking the
// code on the workers). The registry calls it in the background after every create and code or
// configuration update, then marks the function Active/Successful, or Failed with the error's
// message if it returns one.
type PrepareFunc func(ctx context.Context, f *Function) error

// Option configures a Registry.
type Option func(*Registry)

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(r *Registry) { r.logger = l } }

// WithClock sets the clock LastModified is read from.
func WithClock(now func() time.Time) Option { return func(r *Registry) { r.now = now } }

// WithPrepare sets the step run between storing a change and marking it ready. Without it a
// function becomes Active (or its update Successful) right after it is stored.
func WithPrepare(fn PrepareFunc) Option { return func(r *Registry) { r.prepare = fn } }

// WithManualReady leaves functions Pending (and updates InProgress) until MarkReady is called.
func WithManualReady() Option { return func(r *Registry) { r.manual = true } }

// Registry is the function registry. It is safe for concurrent use.
type Registry struct {
	cfg     Config
	kv      jetstream.KeyValue
	code    CodeWriter
	logger  *slog.Logger
	now     func() time.Time
	prepare PrepareFunc
	manual  bool
	layers  *Layers

	mu    sync.RWMutex
	cache map[string]cacheEntry

	bg     context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// cacheEntry is a function at a KV revision; f is nil for a deleted function (a tombstone that
// keeps an older update arriving late from resurrecting it).
type cacheEntry struct {
	f   *Function
	rev uint64
}

// Open creates (or opens) the functions bucket on st, loads every record into memory and keeps
// them current by watching the bucket until Close.
func Open(ctx context.Context, st *state.State, cfg Config, code CodeWriter, opts ...Option) (*Registry, error) {
	if cfg.Region == "" {
		cfg.Region = DefaultRegion
	}
	if cfg.AccountID == "" {
		cfg.AccountID = DefaultAccountID
	}
	if cfg.Bucket == "" {
		cfg.Bucket = DefaultBucket
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if code == nil {
		return nil, errors.New("control: a code writer is required")
	}
	r := &Registry{cfg: cfg, code: code, cache: make(map[string]cacheEntry)}
	for _, o := range opts {
		o(r)
	}
	if r.logger == nil {
		r.logger = slog.New(slog.DiscardHandler)
	}
	if r.now == nil {
		r.now = time.Now
	}
	replicas := st.Replicas()
	if replicas < 1 {
		replicas = 1
	}
	kv, err := st.JetStream().CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      cfg.Bucket,
		Description: "Ember function records: $LATEST configuration, tags and code manifest",
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("control: bucket %s: %w", cfg.Bucket, err)
	}
	r.kv = kv
	if r.layers, err = openLayers(ctx, st, cfg, code, r.logger, r.now); err != nil {
		return nil, err
	}
	r.bg, r.cancel = context.WithCancel(context.Background())
	w, err := kv.WatchAll(r.bg)
	if err != nil {
		r.cancel()
		r.layers.close()
		return nil, fmt.Errorf("control: watch %s: %w", cfg.Bucket, err)
	}
	loaded := make(chan struct{})
	r.wg.Add(1)
	go r.watch(w, loaded)
	select {
	case <-loaded:
	case <-ctx.Done():
		r.Close()
		return nil, fmt.Errorf("control: loading %s: %w", cfg.Bucket, ctx.Err())
	}
	return r, nil
}

// Close stops watching the bucket and waits for background work to end.
func (r *Registry) Close() error {
	r.cancel()
	r.wg.Wait()
	r.layers.close()
	return nil
}

// Layers is the layer registry the functions' Layers are checked against.
func (r *Registry) Layers() *Layers { return r.layers }

// Config is the registry's configuration, with defaults applied.
func (r *Registry) Config() Config { return r.cfg }

func (r *Registry) watch(w jetstream.KeyWatcher, loaded chan struct{}) {
	defer r.wg.Done()
	defer w.Stop()
	for {
		select {
		case <-r.bg.Done():
			return
		case e, ok := <-w.Updates():
			if !ok {
				return
			}
			if e == nil {
				if loaded != nil {
					close(loaded)
					loaded = nil
				}
				continue
			}
			switch e.Operation() {
			case jetstream.KeyValuePut:
				f, err := decodeRecord(e.Value(), e.Revision())
				if err != nil {
					r.logger.Error("function record unreadable", "function", e.Key(), "err", err)
					continue
				}
				r.apply(e.Key(), f, e.Revision())
			default:
				r.apply(e.Key(), nil, e.Revision())
			}
		}
	}
}

// apply records f (nil: deleted) at rev in the cache unless the cache already holds a newer
// revision.
func (r *Registry) apply(name string, f *Function, rev uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if cur, ok := r.cache[name]; ok && cur.rev >= rev {
		return
	}
	r.cache[name] = cacheEntry{f: f, rev: rev}
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
// ?Qualifier= value into the function it names. Only $LATEST exists until versions are
// published, so any other qualifier is not found.
func (r *Registry) Resolve(nameOrARN, qualifier string) (*Function, error) {
	name, fromName, err := r.cfg.ParseFunctionName(nameOrARN, MaxNamespacedFunctionNameLen)
	if err != nil {
		return nil, err
	}
	q, err := ResolveQualifier(fromName, qualifier)
	if err != nil {
		return nil, err
	}
	f, ok := r.Lookup(name)
	if !ok {
		return nil, r.notFound(name, "")
	}
	if q != "" && q != LatestVersion {
		return nil, r.notFound(name, q)
	}
	return f, nil
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

// Create validates and stores a new function. It returns the function as stored: Pending until
// its code is ready.
func (r *Registry) Create(ctx context.Context, in *CreateFunctionInput) (*Function, error) {
	name, qualifier, err := r.cfg.ParseFunctionName(in.FunctionName, MaxFunctionNameLen)
	if err != nil {
		return nil, err
	}
	if qualifier != "" {
		return nil, lambdaerr.InvalidParameter("Unqualified function name expected: %s", in.FunctionName)
	}
	if in.Code == nil {
		return nil, lambdaerr.InvalidParameter("1 validation error detected: Value null at 'code' failed to satisfy constraint: Member must not be null")
	}
	if err := checkSource(in.Code.ZipFile, in.Code.S3Bucket, in.Code.S3Key, in.Code.S3ObjectVersion, in.Code.ImageUri); err != nil {
		return nil, err
	}
	if in.Publish {
		return nil, lambdaerr.InvalidParameter("Publishing versions is not supported by this server yet; create the function without Publish.")
	}
	err = unsupported{vpc: in.VpcConfig, dlq: in.DeadLetterConfig, fs: in.FileSystemConfigs, image: in.ImageConfig,
		kms: in.KMSKeyArn, csc: in.CodeSigningConfigArn, snapStart: in.SnapStart}.check()
	if err != nil {
		return nil, err
	}
	if err := validateTags(in.Tags); err != nil {
		return nil, err
	}
	f := r.newFunction(name, in)
	if err := validateConfig(&f.Config); err != nil {
		return nil, err
	}
	if f.Config.Layers, f.LayerCode, err = r.layers.resolveFunctionLayers(in.Layers); err != nil {
		return nil, err
	}
	if _, err := r.kv.Get(ctx, name); err == nil {
		return nil, r.exists(name)
	} else if !errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, fmt.Errorf("control: read %s: %w", name, err)
	}
	code, err := r.storeCode(ctx, in.Code.ZipFile)
	if err != nil {
		return nil, err
	}
	if err := checkCodeAndLayersSize(code, f.LayerCode); err != nil {
		return nil, err
	}
	f.Code = code
	f.Config.CodeSha256, f.Config.CodeSize = code.Sha256, code.Size
	data, err := json.Marshal(f)
	if err != nil {
		return nil, fmt.Errorf("control: encode %s: %w", name, err)
	}
	rev, err := r.kv.Create(ctx, name, data)
	if errors.Is(err, jetstream.ErrKeyExists) {
		return nil, r.exists(name)
	}
	if err != nil {
		return nil, fmt.Errorf("control: store %s: %w", name, err)
	}
	f.revision = rev
	r.apply(name, f, rev)
	r.logger.Info("function created", "function", name, "code_sha256", code.Sha256)
	r.afterWrite(ctx, f)
	return f, nil
}

func (r *Registry) exists(name string) error {
	return lambdaerr.New(lambdaerr.ResourceConflict, "Function already exist: %s", name)
}

func (r *Registry) newFunction(name string, in *CreateFunctionInput) *Function {
	now := r.now().UTC()
	c := FunctionConfiguration{
		FunctionName:     name,
		FunctionArn:      r.cfg.ARN(name),
		Runtime:          in.Runtime,
		Role:             in.Role,
		Handler:          in.Handler,
		Description:      in.Description,
		Timeout:          DefaultTimeout,
		MemorySize:       DefaultMemorySize,
		LastModified:     now.Format(LastModifiedLayout),
		Version:          LatestVersion,
		TracingConfig:    &TracingConfig{Mode: TracingPass},
		RevisionId:       newUUID(),
		State:            StatePending,
		StateReason:      msgCreating,
		StateReasonCode:  ReasonCreating,
		PackageType:      PackageTypeZip,
		Architectures:    []string{ArchX8664},
		EphemeralStorage: &EphemeralStorage{Size: DefaultEphemeralStorage},
		SnapStart:        &SnapStartResponse{ApplyOn: "None", OptimizationStatus: "Off"},
		LoggingConfig:    &LoggingConfig{LogFormat: LogFormatText, LogGroup: "/aws/lambda/" + name},
	}
	if in.Timeout != nil {
		c.Timeout = *in.Timeout
	}
	if in.MemorySize != nil {
		c.MemorySize = *in.MemorySize
	}
	if in.PackageType != "" {
		c.PackageType = in.PackageType
	}
	if in.Architectures != nil {
		c.Architectures = append([]string(nil), in.Architectures...)
	}
	if in.EphemeralStorage != nil {
		c.EphemeralStorage = &EphemeralStorage{Size: in.EphemeralStorage.Size}
	}
	if in.TracingConfig != nil && in.TracingConfig.Mode != "" {
		c.TracingConfig = &TracingConfig{Mode: in.TracingConfig.Mode}
	}
	setEnvironment(&c, in.Environment)
	mergeLogging(c.LoggingConfig, in.LoggingConfig)
	c.RuntimeVersionConfig = r.runtimeVersion(c.Runtime)
	var tags map[string]string
	if len(in.Tags) > 0 {
		tags = make(map[string]string, len(in.Tags))
		for k, v := range in.Tags {
			tags[k] = v
		}
	}
	return &Function{Config: c, Tags: tags, Modified: now}
}

func setEnvironment(c *FunctionConfiguration, env *Environment) {
	if env == nil {
		return
	}
	if len(env.Variables) == 0 {
		c.Environment = nil
		return
	}
	vars := make(map[string]string, len(env.Variables))
	for k, v := range env.Variables {
		vars[k] = v
	}
	c.Environment = &EnvironmentResponse{Variables: vars}
}

func mergeLogging(dst, in *LoggingConfig) {
	if in == nil {
		return
	}
	if in.LogFormat != "" {
		dst.LogFormat = in.LogFormat
	}
	if in.LogGroup != "" {
		dst.LogGroup = in.LogGroup
	}
	if in.ApplicationLogLevel != "" {
		dst.ApplicationLogLevel = in.ApplicationLogLevel
	}
	if in.SystemLogLevel != "" {
		dst.SystemLogLevel = in.SystemLogLevel
	}
	if dst.LogFormat == LogFormatJSON {
		if dst.ApplicationLogLevel == "" {
			dst.ApplicationLogLevel = "INFO"
		}
		if dst.SystemLogLevel == "" {
			dst.SystemLogLevel = "INFO"
		}
	}
}

// runtimeVersion is a stable runtime version ARN for a runtime, as Lambda reports one.
func (r *Registry) runtimeVersion(runtime string) *RuntimeVersionConfig {
	if runtime == "" {
		return nil
	}
	sum := sha256.Sum256([]byte("ember-runtime:" + runtime))
	return &RuntimeVersionConfig{RuntimeVersionArn: "arn:aws:lambda:" + r.cfg.Region + "::runtime:" + hex.EncodeToString(sum[:])}
}

// checkSource checks that a package is given as a zip, the only source this server takes.
func checkSource(zip []byte, s3Bucket, s3Key, s3Version, imageURI string) error {
	if s3Bucket != "" || s3Key != "" || s3Version != "" {
		return lambdaerr.InvalidParameter("S3 code locations are not supported by this server; upload the package as ZipFile instead.")
	}
	if imageURI != "" {
		return lambdaerr.InvalidParameter("Container images are not supported by this server; upload a Zip package as ZipFile instead.")
	}
	if len(zip) == 0 {
		return lambdaerr.InvalidParameter("Please provide a source for function code.")
	}
	if len(zip) > MaxZippedSize {
		return &lambdaerr.Error{Type: "RequestEntityTooLargeException", Status: 413,
			Message: fmt.Sprintf("Zipped size must be smaller than %d bytes", MaxZippedSize)}
	}
	return nil
}

func (r *Registry) storeCode(ctx context.Context, zip []byte) (Code, error) {
	stored, err := r.code.Put(ctx, zip)
	if err != nil {
		return Code{}, fmt.Errorf("control: store code: %w", err)
	}
	sum := sha256.Sum256(zip)
	return Code{
		Sha256:       base64.StdEncoding.EncodeToString(sum[:]),
		Size:         int64(len(zip)),
		UnzippedSize: stored.UnzippedSize,
		Manifest:     stored.Manifest,
	}, nil
}

// UpdateCode replaces a function's code. It returns the function with LastUpdateStatus
// InProgress (or, for DryRun, what the update would store, storing nothing).
func (r *Registry) UpdateCode(ctx context.Context, in *UpdateFunctionCodeInput) (*Function, error) {
	name, err := r.parseUnqualified(in.FunctionName)
	if err != nil {
		return nil, err
	}
	if err := checkSource(in.ZipFile, in.S3Bucket, in.S3Key, in.S3ObjectVersion, in.ImageUri); err != nil {
		return nil, err
	}
	if in.Publish {
		return nil, lambdaerr.InvalidParameter("Publishing versions is not supported by this server yet; update the code without Publish.")
	}
	if in.Architectures != nil {
		if err := validateArchitectures(in.Architectures); err != nil {
			return nil, err
		}
	}
	cur, ok := r.Lookup(name)
	if !ok {
		return nil, r.notFound(name, "")
	}
	if err := r.checkUpdatable(cur, in.RevisionId); err != nil {
		return nil, err
	}
	if in.DryRun {
		f := cur.clone()
		sum := sha256.Sum256(in.ZipFile)
		f.Config.CodeSha256, f.Config.CodeSize = base64.StdEncoding.EncodeToString(sum[:]), int64(len(in.ZipFile))
		return f, nil
	}
	code, err := r.storeCode(ctx, in.ZipFile)
	if err != nil {
		return nil, err
	}
	f, err := r.update(ctx, name, func(f *Function) error {
		if err := r.checkUpdatable(f, in.RevisionId); err != nil {
			return err
		}
		if err := checkCodeAndLayersSize(code, f.LayerCode); err != nil {
			return err
		}
		f.Code = code
		f.Config.CodeSha256, f.Config.CodeSize = code.Sha256, code.Size
		if in.Architectures != nil {
			f.Config.Architectures = append([]string(nil), in.Architectures...)
		}
		r.startUpdate(f)
		return nil
	})
	if err != nil {
		return nil, err
	}
	r.logger.Info("function code updated", "function", name, "code_sha256", code.Sha256)
	r.afterWrite(ctx, f)
	return f, nil
}

// UpdateConfiguration changes the members of a function's configuration that in sets. It returns
// the function with LastUpdateStatus InProgress.
func (r *Registry) UpdateConfiguration(ctx context.Context, in *UpdateFunctionConfigurationInput) (*Function, error) {
	name, err := r.parseUnqualified(in.FunctionName)
	if err != nil {
		return nil, err
	}
	kms := ""
	if in.KMSKeyArn != nil {
		kms = *in.KMSKeyArn
	}
	err = unsupported{vpc: in.VpcConfig, dlq: in.DeadLetterConfig, fs: in.FileSystemConfigs, image: in.ImageConfig,
		kms: kms, snapStart: in.SnapStart}.check()
	if err != nil {
		return nil, err
	}
	if _, ok := r.Lookup(name); !ok {
		return nil, r.notFound(name, "")
	}
	layers, layerCode, err := r.layers.resolveFunctionLayers(in.Layers)
	if err != nil {
		return nil, err
	}
	f, err := r.update(ctx, name, func(f *Function) error {
		if err := r.checkUpdatable(f, in.RevisionId); err != nil {
			return err
		}
		c := &f.Config
		if in.Role != nil {
			c.Role = *in.Role
		}
		if in.Handler != nil {
			c.Handler = *in.Handler
		}
		if in.Description != nil {
			c.Description = *in.Description
		}
		if in.Timeout != nil {
			c.Timeout = *in.Timeout
		}
		if in.MemorySize != nil {
			c.MemorySize = *in.MemorySize
		}
		if in.Runtime != nil {
			c.Runtime = *in.Runtime
			c.RuntimeVersionConfig = r.runtimeVersion(c.Runtime)
		}
		if in.EphemeralStorage != nil {
			c.EphemeralStorage = &EphemeralStorage{Size: in.EphemeralStorage.Size}
		}
		if in.TracingConfig != nil && in.TracingConfig.Mode != "" {
			c.TracingConfig = &TracingConfig{Mode: in.TracingConfig.Mode}
		}
		setEnvironment(c, in.Environment)
		if c.LoggingConfig == nil {
			c.LoggingConfig = &LoggingConfig{LogFormat: LogFormatText, LogGroup: "/aws/lambda/" + name}
		}
		if in.LoggingConfig != nil && in.LoggingConfig.LogFormat == LogFormatText {
			c.LoggingConfig.ApplicationLogLevel, c.LoggingConfig.SystemLogLevel = "", ""
		}
		mergeLogging(c.LoggingConfig, in.LoggingConfig)
		if in.Layers != nil {
			c.Layers, f.LayerCode = layers, layerCode
		}
		if err := validateConfig(c); err != nil {
			return err
		}
		if err := checkCodeAndLayersSize(f.Code, f.LayerCode); err != nil {
			return err
		}
		r.startUpdate(f)
		return nil
	})
	if err != nil {
		return nil, err
	}
	r.logger.Info("function configuration updated", "function", name)
	r.afterWrite(ctx, f)
	return f, nil
}

// parseUnqualified parses the FunctionName of an update: only $LATEST can be updated.
func (r *Registry) parseUnqualified(nameOrARN string) (string, error) {
	name, qualifier, err := r.cfg.ParseFunctionName(nameOrARN, MaxFunctionNameLen)
	if err != nil {
		return "", err
	}
	if qualifier != "" && qualifier != LatestVersion {
		return "", r.notFound(name, qualifier)
	}
	return name, nil
}

// checkUpdatable reports whether f can be updated now, as Lambda does: the caller's RevisionId
// (if any) must be the current one, and no create or update may be under way.
func (r *Registry) checkUpdatable(f *Function, revisionID string) error {
	if revisionID != "" && revisionID != f.Config.RevisionId {
		return lambdaerr.New(lambdaerr.PreconditionFailed, "%s", msgRevisionMismatch)
	}
	if f.Config.State == StatePending {
		return lambdaerr.New(lambdaerr.ResourceConflict,
			"The operation cannot be performed at this time. The function is currently in the following state: %s", f.Config.State)
	}
	if f.Config.LastUpdateStatus == UpdateInProgress {
		return lambdaerr.New(lambdaerr.ResourceConflict,
			"The operation cannot be performed at this time. An update is in progress for resource: %s", f.Config.FunctionArn)
	}
	return nil
}

func (r *Registry) startUpdate(f *Function) {
	now := r.now().UTC()
	f.Modified = now
	f.Config.LastModified = now.Format(LastModifiedLayout)
	f.Config.RevisionId = newUUID()
	f.Config.LastUpdateStatus = UpdateInProgress
	f.Config.LastUpdateStatusReason = msgCreating
	f.Config.LastUpdateStatusReasonCode = ReasonCreating
}

// errUnchanged tells update that mutate decided to store nothing.
var errUnchanged = errors.New("unchanged")

// update reads a function's record, applies mutate to a copy and stores it if the record has not
// changed since it was read, retrying on a concurrent change. mutate sees the latest record on
// every attempt, so its checks (RevisionId, update in progress) hold against it.
func (r *Registry) update(ctx context.Context, name string, mutate func(*Function) error) (*Function, error) {
	for range maxCASAttempts {
		e, err := r.kv.Get(ctx, name)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return nil, r.notFound(name, "")
		}
		if err != nil {
			return nil, fmt.Errorf("control: read %s: %w", name, err)
		}
		f, err := decodeRecord(e.Value(), e.Revision())
		if err != nil {
			return nil, fmt.Errorf("control: record %s: %w", name, err)
		}
		if err := mutate(f); err != nil {
			return nil, err
		}
		data, err := json.Marshal(f)
		if err != nil {
			return nil, fmt.Errorf("control: encode %s: %w", name, err)
		}
		rev, err := r.kv.Update(ctx, name, data, e.Revision())
		if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("control: store %s: %w", name, err)
		}
		f.revision = rev
		r.apply(name, f, rev)
		return f, nil
	}
	return nil, lambdaerr.New(lambdaerr.ResourceConflict,
		"The operation cannot be performed at this time. An update is in progress for resource: %s", r.cfg.ARN(name))
}

// Delete deletes a function. A qualifier other than none names a version, which cannot exist
// yet; $LATEST cannot be deleted on its own, as in Lambda.
func (r *Registry) Delete(ctx context.Context, nameOrARN, qualifier string) error {
	name, fromName, err := r.cfg.ParseFunctionName(nameOrARN, MaxFunctionNameLen)
	if err != nil {
		return err
	}
	q, err := ResolveQualifier(fromName, qualifier)
	if err != nil {
		return err
	}
	if q == LatestVersion {
		return lambdaerr.InvalidParameter("$LATEST version cannot be deleted without deleting the function.")
	}
	if q != "" {
		return r.notFound(name, q)
	}
	for range maxCASAttempts {
		e, err := r.kv.Get(ctx, name)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return r.notFound(name, "")
		}
		if err != nil {
			return fmt.Errorf("control: read %s: %w", name, err)
		}
		err = r.kv.Delete(ctx, name, jetstream.LastRevision(e.Revision()))
		if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			continue
		}
		if err != nil {
			return fmt.Errorf("control: delete %s: %w", name, err)
		}
		// The delete marker's revision is at least one past the one it replaced; the watcher
		// brings the exact one.
		r.apply(name, nil, e.Revision()+1)
		r.logger.Info("function deleted", "function", name)
		return nil
	}
	return lambdaerr.New(lambdaerr.ResourceConflict,
		"The operation cannot be performed at this time. An update is in progress for resource: %s", r.cfg.ARN(name))
}

// afterWrite starts making a stored change ready, as configured.
func (r *Registry) afterWrite(ctx context.Context, f *Function) {
	if r.manual {
		return
	}
	name, rev := f.Name(), f.Config.RevisionId
	if r.prepare == nil {
		if err := r.MarkReady(context.WithoutCancel(ctx), name, rev, nil); err != nil {
			r.logger.Error("marking function ready", "function", name, "err", err)
		}
		return
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		perr := r.prepare(r.bg, f)
		if err := r.MarkReady(r.bg, name, rev, perr); err != nil {
			r.logger.Error("marking function ready", "function", name, "err", err)
		}
	}()
}

// MarkReady ends the create or update that left the function at revisionID: Pending becomes
// Active and InProgress becomes Successful, or both Failed with failure's message when failure
// is not nil. It does nothing if the function has changed since (or is gone).
func (r *Registry) MarkReady(ctx context.Context, name, revisionID string, failure error) error {
	_, err := r.update(ctx, name, func(f *Function) error {
		if f.Config.RevisionId != revisionID {
			return errUnchanged
		}
		c := &f.Config
		if c.State != StatePending && c.LastUpdateStatus != UpdateInProgress {
			return errUnchanged
		}
		reason, code := "", ""
		if failure != nil {
			le := lambdaerr.As(failure)
			reason, code = le.Message, ReasonInternalError
			if le.Type == lambdaerr.InvalidZipFile {
				code = "InvalidZipFileException"
			}
		}
		if c.State == StatePending {
			c.State, c.StateReason, c.StateReasonCode = StateActive, "", ""
			if failure != nil {
				c.State, c.StateReason, c.StateReasonCode = StateFailed, reason, code
			}
		}
		c.LastUpdateStatus, c.LastUpdateStatusReason, c.LastUpdateStatusReasonCode = UpdateSuccessful, "", ""
		if failure != nil {
			c.LastUpdateStatus, c.LastUpdateStatusReason, c.LastUpdateStatusReasonCode = UpdateFailed, reason, code
		}
		c.RevisionId = newUUID()
		return nil
	})
	if errors.Is(err, errUnchanged) || errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

func decodeRecord(data []byte, rev uint64) (*Function, error) {
	var f Function
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, err
	}
	f.revision = rev
	return &f, nil
}

// newUUID is a random (version 4) UUID, as Lambda's RevisionId.
func newUUID() string { return uuid.NewString() }

func sortByName(fs []*Function) {
	slices.SortFunc(fs, func(a, b *Function) int { return strings.Compare(a.Name(), b.Name()) })
}
