package codestore

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Compile-time checks that the implementations satisfy Blobs.
var (
	_ SweepableBlobs = (*MemBlobs)(nil)
	_ SweepableBlobs = (*jetStreamBlobs)(nil)
)

// MemBlobs keeps blobs in memory. It is for tests and single-process experiments.
type MemBlobs struct {
	mu       sync.Mutex
	data     map[string][]byte
	modified map[string]time.Time
	puts     int
}

// NewMemBlobs returns an empty in-memory blob store.
func NewMemBlobs() *MemBlobs {
	return &MemBlobs{data: make(map[string][]byte), modified: make(map[string]time.Time)}
}

// Put stores a copy of data under id.
func (b *MemBlobs) Put(_ context.Context, id string, data []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.puts++
	b.data[id] = append([]byte(nil), data...)
	b.modified[id] = time.Now()
	return nil
}

// List returns every stored blob.
func (b *MemBlobs) List(context.Context) ([]BlobInfo, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]BlobInfo, 0, len(b.data))
	for id, d := range b.data {
		out = append(out, BlobInfo{ID: id, Size: int64(len(d)), Modified: b.modified[id]})
	}
	return out, nil
}

// Delete removes the blob under id.
func (b *MemBlobs) Delete(_ context.Context, id string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.data, id)
	delete(b.modified, id)
	return nil
}

// Get returns a copy of the data under id.
func (b *MemBlobs) Get(_ context.Context, id string) ([]byte, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	d, ok := b.data[id]
	if !ok {
		return nil, fmt.Errorf("blob %s: %w", id, ErrBlobNotFound)
	}
	return append([]byte(nil), d...), nil
}

// Has reports whether id is stored.
func (b *MemBlobs) Has(_ context.Context, id string) (bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	_, ok := b.data[id]
	return ok, nil
}

// Len returns how many blobs are stored.
func (b *MemBlobs) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.data)
}

// Puts returns how many times Put was called.
func (b *MemBlobs) Puts() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.puts
}

// Each calls fn with every stored blob, in no particular order.
func (b *MemBlobs) Each(fn func(id string, data []byte)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for id, d := range b.data {
		fn(id, d)
	}
}

// jetStreamBlobs keeps blobs as objects in a JetStream Object Store bucket.
type jetStreamBlobs struct {
	obs    jetstream.ObjectStore
	js     jetstream.JetStream
	bucket string
}

// NewJetStreamBlobs returns Blobs stored in the JetStream Object Store bucket, creating the
// bucket (file storage, the given replicas) if it does not exist.
func NewJetStreamBlobs(ctx context.Context, js jetstream.JetStream, bucket string, replicas int) (Blobs, error) {
	if replicas <= 0 {
		replicas = 1
	}
	obs, err := js.ObjectStore(ctx, bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		obs, err = js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{
			Bucket:      bucket,
			Description: "Ember code chunks, encrypted and addressed by ciphertext hash",
			Storage:     jetstream.FileStorage,
			Replicas:    replicas,
		})
		if errors.Is(err, jetstream.ErrBucketExists) { // created by someone else meanwhile
			obs, err = js.ObjectStore(ctx, bucket)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("codestore: object store %s: %w", bucket, err)
	}
	return &jetStreamBlobs{obs: obs, js: js, bucket: bucket}, nil
}

func (b *jetStreamBlobs) Put(ctx context.Context, id string, data []byte) error {
	// Ids address content, so an object already there holds these very bytes.
	if has, err := b.Has(ctx, id); err != nil || has {
		return err
	}
	if _, err := b.obs.PutBytes(ctx, id, data); err != nil {
		return fmt.Errorf("blob %s: %w", id, err)
	}
	return nil
}

func (b *jetStreamBlobs) Get(ctx context.Context, id string) ([]byte, error) {
	data, err := b.obs.GetBytes(ctx, id)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return nil, fmt.Errorf("blob %s: %w", id, ErrBlobNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("blob %s: %w", id, err)
	}
	return data, nil
}

func (b *jetStreamBlobs) Has(ctx context.Context, id string) (bool, error) {
	_, err := b.obs.GetInfo(ctx, id)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("blob %s: %w", id, err)
	}
	return true, nil
}

func (b *jetStreamBlobs) List(ctx context.Context) ([]BlobInfo, error) {
	infos, err := b.obs.List(ctx)
	if errors.Is(err, jetstream.ErrNoObjectsFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("blobs: list: %w", err)
	}
	out := make([]BlobInfo, 0, len(infos))
	for _, i := range infos {
		out = append(out, BlobInfo{ID: i.Name, Size: int64(i.Size), Modified: i.ModTime})
	}
	return out, nil
}

// Delete deletes the object, then purges the delete marker the object store leaves in its
// place, so a deleted blob costs the stream nothing at all.
func (b *jetStreamBlobs) Delete(ctx context.Context, id string) error {
	err := b.obs.Delete(ctx, id)
	if err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
		return fmt.Errorf("blob %s: %w", id, err)
	}
	stream, err := b.js.Stream(ctx, "OBJ_"+b.bucket)
	if err != nil {
		return fmt.Errorf("blob %s: %w", id, err)
	}
	meta := "$O." + b.bucket + ".M." + base64.URLEncoding.EncodeToString([]byte(id))
	if err := stream.Purge(ctx, jetstream.WithPurgeSubject(meta)); err != nil {
		return fmt.Errorf("blob %s: purge its delete marker: %w", id, err)
	}
	return nil
}
