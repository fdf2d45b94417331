package control

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/ember-serverless/ember/internal/codestore"
)

// Codestore adapts a *codestore.Store to CodeWriter (and to api.CodeReader): the registry keeps
// the store's Manifest, as JSON, in each function's record. The manifest holds the chunks' keys,
// so Code.Manifest must never be sent to clients.
type Codestore struct{ Store *codestore.Store }

var _ CodeWriter = Codestore{}

// Put implements CodeWriter.
func (c Codestore) Put(ctx context.Context, zip []byte) (StoredCode, error) {
	m, err := c.Store.Put(ctx, zip)
	if err != nil {
		return StoredCode{}, err
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return StoredCode{}, fmt.Errorf("control: encode manifest: %w", err)
	}
	return StoredCode{UnzippedSize: m.UnzippedSize, Manifest: raw}, nil
}

// Zip returns the package a function's code was stored from.
func (c Codestore) Zip(ctx context.Context, code Code) ([]byte, error) {
	m, err := code.CodestoreManifest()
	if err != nil {
		return nil, err
	}
	return c.Store.Zip(ctx, m)
}

// CodestoreManifest decodes the code store's manifest kept in the record, for the workers that
// unpack the code (codestore.Store.Unpacked).
func (c Code) CodestoreManifest() (codestore.Manifest, error) {
	var m codestore.Manifest
	if err := json.Unmarshal(c.Manifest, &m); err != nil {
		return codestore.Manifest{}, fmt.Errorf("control: code manifest: %w: %w", codestore.ErrBadManifest, err)
	}
	return m, nil
}
