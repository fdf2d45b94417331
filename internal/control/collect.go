package control

import (
	"context"
	"fmt"
	"time"

	"github.com/ember-serverless/ember/internal/codestore"
)

// CollectCode deletes from store the chunks and unpacked copies no function or published
// version (its code and its own copies of its layers) and no layer version references any more and that were last
// stored or used more than grace ago. The grace covers a create or update in flight, whose
// code is stored before its record is written, and records written by other processes that
// this registry has not seen yet.
func (r *Registry) CollectCode(ctx context.Context, store *codestore.Store, grace time.Duration) (codestore.CollectStats, error) {
	// The cutoff comes before the references are read: whatever is written after the read
	// used its chunks after the cutoff, so the collection keeps them.
	cutoff := time.Now().Add(-grace)
	inUse, err := r.codeInUse()
	if err != nil {
		return codestore.CollectStats{}, err
	}
	return store.Collect(ctx, inUse, cutoff)
}

// codeInUse is the manifest of every package a function or layer version references. A
// manifest that cannot be read stops the collection: what it references is unknown.
func (r *Registry) codeInUse() (codestore.InUse, error) {
	var inUse codestore.InUse
	add := func(what string, c Code) error {
		m, err := c.CodestoreManifest()
		if err != nil {
			return fmt.Errorf("control: collect code: %s: %w", what, err)
		}
		inUse = append(inUse, m)
		return nil
	}
	for _, f := range r.snapshot() {
		if err := add("function "+f.Name(), f.Code); err != nil {
			return nil, err
		}
		for _, lc := range f.LayerCode {
			if err := add("a layer of function "+f.Name(), lc); err != nil {
				return nil, err
			}
		}
	}
	r.mu.RLock()
	var versions []*Function
	for _, vs := range r.versions {
		for _, e := range vs {
			if e.f != nil {
				versions = append(versions, e.f)
			}
		}
	}
	r.mu.RUnlock()
	for _, f := range versions {
		if err := add("version "+f.Config.FunctionArn, f.Code); err != nil {
			return nil, err
		}
		for _, lc := range f.LayerCode {
			if err := add("a layer of version "+f.Config.FunctionArn, lc); err != nil {
				return nil, err
			}
		}
	}
	for _, v := range r.layers.versions("") {
		if err := add("layer version "+v.Arn(), v.Code); err != nil {
			return nil, err
		}
	}
	return inUse, nil
}
