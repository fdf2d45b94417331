package control

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/ember-serverless/ember/internal/codestore"
	"github.com/ember-serverless/ember/internal/invoke"
	"github.com/ember-serverless/ember/internal/lambdaerr"
	"github.com/ember-serverless/ember/internal/limits"
)

// Functions finds a function by its parsed name and qualifier: *Registry.
type Functions interface {
	ResolveName(name, qualifier string) (*Function, error)
}

// Unpacker gives the directory a code archive is unpacked in: *codestore.Store.
type Unpacker interface {
	Unpacked(ctx context.Context, m codestore.Manifest) (string, error)
}

var (
	_ Functions = (*Registry)(nil)
	_ Unpacker  = (*codestore.Store)(nil)
)

// ResolverConfig is what a Resolver needs.
type ResolverConfig struct {
	Functions Functions
	Code      Unpacker
	Runtimes  RuntimeTable
	// ClientDirs maps each managed runtime to its client's directory as sandboxes see it.
	ClientDirs map[string]string
}

// Validate reports what is missing.
func (c *ResolverConfig) Validate() error {
	if c.Functions == nil || c.Code == nil || c.Runtimes == nil {
		return errors.New("control: a resolver needs functions, code and runtimes")
	}
	return nil
}

// Resolver turns function records into the versions the invoke path runs (frontend.Resolver):
// the sandbox spec, with the runtime's command, the merged environment and the unpacked code
// and layers. It builds each function's once per revision and keeps it, so a warm invoke finds
// its version in a map.
type Resolver struct {
	cfg ResolverConfig

	mu    sync.Mutex
	cache map[string]*invoke.Version // by function version's ARN ($LATEST's unqualified); valid for its Key
}

// NewResolver returns a resolver.
func NewResolver(cfg ResolverConfig) (*Resolver, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Resolver{cfg: cfg, cache: map[string]*invoke.Version{}}, nil
}

// Resolve finds the version an invoke names: name is a parsed function name, qualifier the
// version or alias the request named ("" or $LATEST, a number, an alias; for an alias with
// routing, the version picked for this invoke). Each published version has its own Key, so
// its sandboxes are its own and, its code and configuration never changing, live until
// reclaimed; $LATEST's Key changes with every update.
func (r *Resolver) Resolve(ctx context.Context, name, qualifier string) (*invoke.Version, error) {
	f, err := r.cfg.Functions.ResolveName(name, qualifier)
	if err != nil {
		return nil, err
	}
	if f.Config.State == StateFailed {
		return nil, lambdaerr.New(lambdaerr.ResourceConflict,
			"The operation cannot be performed at this time. The function is currently in the following state: %s", f.Config.State)
	}
	key := f.Config.FunctionArn + "#" + f.Config.RevisionId
	r.mu.Lock()
	v := r.cache[f.Config.FunctionArn]
	r.mu.Unlock()
	if v != nil && v.Key == key {
		return v, nil
	}
	v, err = r.build(ctx, f, key)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.cache[f.Config.FunctionArn] = v
	r.mu.Unlock()
	return v, nil
}

// Forget drops what the resolver keeps of function name: call it when the function is
// deleted (Registry.OnDelete).
func (r *Resolver) Forget(name string) {
	r.mu.Lock()
	for arn, v := range r.cache {
		if v.Sandbox.FunctionName == name {
			delete(r.cache, arn)
		}
	}
	r.mu.Unlock()
}

func (r *Resolver) build(ctx context.Context, f *Function, key string) (*invoke.Version, error) {
	rt, err := r.cfg.Runtimes.Lookup(f.Config.Runtime)
	if err != nil {
		return nil, lambdaerr.New(lambdaerr.InvalidRuntime, "The runtime parameter of %s is not supported by this server.", f.Config.Runtime)
	}
	dir, layerDirs, err := unpackFunction(ctx, r.cfg.Code, f)
	if err != nil {
		return nil, err
	}
	cmd, err := rt.Command(dir, layerDirs, r.cfg.ClientDirs[rt.Name])
	if err != nil {
		return nil, err
	}
	env := f.Env()
	if extra := rt.Env(); len(extra) > 0 {
		merged := maps.Clone(extra)
		maps.Copy(merged, env) // the function's own settings win, where Lambda lets it set them
		env = merged
	}
	eph := limits.DefaultEphemeralStorageMB
	if f.Config.EphemeralStorage != nil {
		eph = f.Config.EphemeralStorage.Size
	}
	var snapshotKey string
	if s := f.Config.SnapStart; s != nil && s.OptimizationStatus == SnapStartOn {
		snapshotKey = key
	}
	version := f.Config.Version
	if version == "" {
		version = LatestVersion
	}
	return &invoke.Version{
		Key:     key,
		Version: version,
		Sandbox: invoke.SandboxSpec{
			FunctionName:       f.Name(),
			FunctionARN:        f.Config.FunctionArn,
			Version:            version,
			Runtime:            f.Config.Runtime,
			Handler:            f.Config.Handler,
			Command:            cmd,
			MemoryMB:           f.Config.MemorySize,
			Timeout:            time.Duration(f.Config.Timeout) * time.Second,
			EphemeralStorageMB: eph,
			Env:                env,
			CodeDir:            dir,
			LayerDirs:          layerDirs,
			SnapshotKey:        snapshotKey,
		},
	}, nil
}

// PrepareCode is the registry's prepare step (WithPrepare) that unpacks a function's code and
// layers before it is marked Active, so its first invoke finds them ready.
func PrepareCode(code Unpacker) PrepareFunc {
	return func(ctx context.Context, f *Function) error {
		_, _, err := unpackFunction(ctx, code, f)
		return err
	}
}

// unpackFunction unpacks a function's code and its layers, in order: the directories its
// sandboxes see as /var/task and merge into /opt. The layer archives are the function's own
// copies, so a deleted layer version still unpacks.
func unpackFunction(ctx context.Context, code Unpacker, f *Function) (dir string, layerDirs []string, err error) {
	m, err := f.Code.CodestoreManifest()
	if err != nil {
		return "", nil, fmt.Errorf("function %s: %w", f.Name(), err)
	}
	if dir, err = code.Unpacked(ctx, m); err != nil {
		return "", nil, fmt.Errorf("function %s: unpacking code: %w", f.Name(), err)
	}
	for i, c := range f.LayerCode {
		m, err := c.CodestoreManifest()
		if err == nil {
			var d string
			if d, err = code.Unpacked(ctx, m); err == nil {
				layerDirs = append(layerDirs, d)
				continue
			}
		}
		arn := ""
		if i < len(f.Config.Layers) {
			arn = f.Config.Layers[i].Arn
		}
		return "", nil, fmt.Errorf("function %s: unpacking layer %s: %w", f.Name(), arn, err)
	}
	return dir, layerDirs, nil
}
