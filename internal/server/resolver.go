package server

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/ember-serverless/ember/internal/codestore"
	"github.com/ember-serverless/ember/internal/control"
	"github.com/ember-serverless/ember/internal/frontend"
	"github.com/ember-serverless/ember/internal/invoke"
	"github.com/ember-serverless/ember/internal/lambdaerr"
	"github.com/ember-serverless/ember/internal/runtimes"
)

var _ frontend.Resolver = (*resolver)(nil)

// resolver turns registry records into what the invoke path needs, once per revision of each
// function: a warm invoke finds its version in a map.
type resolver struct {
	reg  *control.Registry
	code *codestore.Store
	// clientDirs maps each managed runtime to its client's directory as sandboxes see it.
	clientDirs map[string]string

	mu    sync.Mutex
	cache map[string]*invoke.Version // by function name; valid for its Key
}

func newResolver(reg *control.Registry, code *codestore.Store, clientDirs map[string]string) *resolver {
	return &resolver{reg: reg, code: code, clientDirs: clientDirs, cache: map[string]*invoke.Version{}}
}

// Resolve finds the version an invoke names.
func (r *resolver) Resolve(ctx context.Context, name, qualifier string) (*invoke.Version, error) {
	f, err := r.reg.Resolve(name, qualifier)
	if err != nil {
		return nil, err
	}
	if f.Config.State == control.StateFailed {
		return nil, lambdaerr.New(lambdaerr.ResourceConflict,
			"The operation cannot be performed at this time. The function is currently in the following state: %s", f.Config.State)
	}
	key := f.Config.FunctionArn + "#" + f.Config.RevisionId
	r.mu.Lock()
	v := r.cache[f.Name()]
	r.mu.Unlock()
	if v != nil && v.Key == key {
		return v, nil
	}
	v, err = r.build(ctx, f, key)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.cache[f.Name()] = v
	r.mu.Unlock()
	return v, nil
}

// forget drops a deleted function's entry.
func (r *resolver) forget(name string) {
	r.mu.Lock()
	delete(r.cache, name)
	r.mu.Unlock()
}

func (r *resolver) build(ctx context.Context, f *control.Function, key string) (*invoke.Version, error) {
	rt, err := runtimes.Lookup(f.Config.Runtime)
	if err != nil {
		return nil, lambdaerr.New(lambdaerr.InvalidRuntime, "The runtime parameter of %s is not supported by this server.", f.Config.Runtime)
	}
	m, err := f.Code.CodestoreManifest()
	if err != nil {
		return nil, fmt.Errorf("function %s: %w", f.Name(), err)
	}
	dir, err := r.code.Unpacked(ctx, m)
	if err != nil {
		return nil, fmt.Errorf("function %s: unpacking code: %w", f.Name(), err)
	}
	layerDirs, err := unpackLayers(ctx, r.code, f)
	if err != nil {
		return nil, err
	}
	cmd, err := rt.Command(dir, layerDirs, r.clientDirs[rt.Name])
	if err != nil {
		return nil, err
	}
	env := f.Env()
	if extra := rt.Env(); len(extra) > 0 {
		merged := make(map[string]string, len(env)+len(extra))
		for k, v := range extra {
			merged[k] = v
		}
		for k, v := range env {
			merged[k] = v // the function's own settings win, where Lambda lets it set them
		}
		env = merged
	}
	mem := f.Config.MemorySize
	eph := control.DefaultEphemeralStorage
	if f.Config.EphemeralStorage != nil {
		eph = f.Config.EphemeralStorage.Size
	}
	return &invoke.Version{
		Key:     key,
		Version: control.LatestVersion,
		Sandbox: invoke.SandboxSpec{
			FunctionName:       f.Name(),
			FunctionARN:        f.Config.FunctionArn,
			Version:            control.LatestVersion,
			Runtime:            f.Config.Runtime,
			Handler:            f.Config.Handler,
			Command:            cmd,
			MemoryMB:           mem,
			Timeout:            time.Duration(f.Config.Timeout) * time.Second,
			EphemeralStorageMB: eph,
			Env:                env,
			CodeDir:            dir,
			LayerDirs:          layerDirs,
		},
	}, nil
}

// prepareCode unpacks a function's code before it is marked Active, so its first invoke finds
// it ready.
func prepareCode(store *codestore.Store) control.PrepareFunc {
	return func(ctx context.Context, f *control.Function) error {
		m, err := f.Code.CodestoreManifest()
		if err != nil {
			return err
		}
		if _, err = store.Unpacked(ctx, m); err != nil {
			return err
		}
		_, err = unpackLayers(ctx, store, f)
		return err
	}
}

// unpackLayers unpacks a function's layers, in order: the directories its sandboxes merge into
// /opt. The archives are the function's own copies, so a deleted layer version still unpacks.
func unpackLayers(ctx context.Context, store *codestore.Store, f *control.Function) ([]string, error) {
	var dirs []string
	for i, c := range f.LayerCode {
		m, err := c.CodestoreManifest()
		if err == nil {
			var d string
			if d, err = store.Unpacked(ctx, m); err == nil {
				dirs = append(dirs, d)
				continue
			}
		}
		arn := ""
		if i < len(f.Config.Layers) {
			arn = f.Config.Layers[i].Arn
		}
		return nil, fmt.Errorf("function %s: unpacking layer %s: %w", f.Name(), arn, err)
	}
	return dirs, nil
}
