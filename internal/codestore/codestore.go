package codestore

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ember-serverless/ember/internal/limits"
)

// Limits Lambda applies to a .zip deployment package.
const (
	// DefaultMaxFiles caps the entries a package may hold. Lambda documents no such quota; the
	// cap bounds the inodes and the time one upload can cost.
	DefaultMaxFiles = 100000
	// maxLinkTarget bounds a symbolic link's target, as PATH_MAX does.
	maxLinkTarget = 4096
)

// Errors callers can classify with errors.Is.
var (
	// ErrBlobNotFound is wrapped by Blobs.Get when no blob has the id.
	ErrBlobNotFound = errors.New("codestore: blob not found")
	// ErrCorrupt is wrapped when stored data does not match its manifest: a chunk that fails to
	// decrypt or hash, or a reassembled zip whose SHA-256 differs.
	ErrCorrupt = errors.New("codestore: stored package is corrupt")
	// ErrBadManifest is wrapped when a manifest is malformed.
	ErrBadManifest = errors.New("codestore: malformed manifest")
)

// Manifest describes one stored package; it is saved inside control-plane records as JSON.
type Manifest struct {
	// Sha256 is the base64 SHA-256 of the zip, exactly Lambda's CodeSha256.
	Sha256 string `json:"sha256"`
	// Size is the zip's size in bytes (Lambda's CodeSize).
	Size int64 `json:"size"`
	// UnzippedSize is the sum of the inflated sizes of the package's entries.
	UnzippedSize int64 `json:"unzippedSize"`
	// Chunks are the zip's pieces in order.
	Chunks []Chunk `json:"chunks"`
}

// Chunk is one encrypted piece of a package.
type Chunk struct {
	// ID addresses the ciphertext in Blobs: the hex SHA-256 of the ciphertext. It reveals
	// nothing about the key.
	ID string `json:"id"`
	// Key is the base64 AES-256 key the chunk is sealed with. It is secret key material kept
	// only in the manifest.
	Key string `json:"key"`
	// Size is the plaintext length in bytes.
	Size int `json:"size"`
}

// HexSha256 returns the package's SHA-256 in hex, the name of its unpacked directory.
func (m Manifest) HexSha256() (string, error) {
	sum, err := base64.StdEncoding.DecodeString(m.Sha256)
	if err != nil || len(sum) != sha256.Size {
		return "", fmt.Errorf("%w: sha256 %q is not a base64 SHA-256", ErrBadManifest, m.Sha256)
	}
	return hex.EncodeToString(sum), nil
}

// Blobs is where encrypted chunks live.
type Blobs interface {
	// Put stores data under id. Putting an id again is harmless.
	Put(ctx context.Context, id string, data []byte) error
	// Get returns the data stored under id, or an error wrapping ErrBlobNotFound.
	Get(ctx context.Context, id string) ([]byte, error)
	// Has reports whether id is stored.
	Has(ctx context.Context, id string) (bool, error)
}

// Option configures a Store.
type Option func(*Store)

// WithLogger sets the logger; the default discards.
func WithLogger(l *slog.Logger) Option {
	return func(s *Store) {
		if l != nil {
			s.logger = l
		}
	}
}

// WithMaxUnzippedSize sets the largest unzipped size accepted, limits.MaxUnzippedSize (Lambda's
// 250 MB) by default.
func WithMaxUnzippedSize(n int64) Option {
	return func(s *Store) {
		if n > 0 {
			s.maxUnzipped = n
		}
	}
}

// WithMaxFiles sets the most entries a package may hold, DefaultMaxFiles by default.
func WithMaxFiles(n int) Option {
	return func(s *Store) {
		if n > 0 {
			s.maxFiles = n
		}
	}
}

// Store validates, stores and unpacks code packages.
type Store struct {
	blobs       Blobs
	cacheDir    string
	logger      *slog.Logger
	maxUnzipped int64
	maxFiles    int

	mu       sync.Mutex
	inflight map[string]*unpackCall
	// chunkLocks order Put's use of a chunk against a collection deleting it, one lock per
	// stripe of chunk ids, so that puts of different chunks do not wait for each other.
	chunkLocks [64]sync.Mutex
	// used is when Put last used each chunk (stored it, or found it stored), since the last
	// collection.
	usedMu sync.Mutex
	used   map[string]time.Time
	// extractions counts packages extracted into the cache, for tests.
	extractions atomic.Int64
}

// New returns a Store keeping chunks in blobs and unpacked packages under cacheDir.
func New(blobs Blobs, cacheDir string, opts ...Option) *Store {
	s := &Store{
		blobs:       blobs,
		cacheDir:    cacheDir,
		logger:      slog.New(slog.DiscardHandler),
		maxUnzipped: limits.MaxUnzippedSize,
		maxFiles:    DefaultMaxFiles,
		inflight:    make(map[string]*unpackCall),
		used:        make(map[string]time.Time),
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Put validates a zip package, splits it into chunks, encrypts them and stores those the blob
// store does not hold yet. A package that fails validation stores nothing and returns a
// *lambdaerr.Error of type InvalidParameterValueException.
func (s *Store) Put(ctx context.Context, zip []byte) (Manifest, error) {
	info, err := s.Validate(zip)
	if err != nil {
		return Manifest{}, err
	}
	m := Manifest{Sha256: info.Sha256, Size: info.Size, UnzippedSize: info.UnzippedSize}
	stored := 0
	err = split(zip, func(plain []byte) error {
		c, sealed, err := seal(plain)
		if err != nil {
			return err
		}
		m.Chunks = append(m.Chunks, c)
		isNew, err := s.putChunk(ctx, c.ID, sealed)
		if isNew {
			stored++
		}
		return err
	})
	if err != nil {
		return Manifest{}, err
	}
	s.logger.Debug("code package stored", "sha256", m.Sha256, "size", m.Size,
		"chunks", len(m.Chunks), "new_chunks", stored)
	return m, nil
}

// putChunk stores a sealed chunk unless it is stored already, and marks it used now, so that a
// collection running meanwhile keeps it (see Collect).
func (s *Store) putChunk(ctx context.Context, id string, sealed []byte) (bool, error) {
	l := s.chunkLock(id)
	l.Lock()
	defer l.Unlock()
	s.usedMu.Lock()
	s.used[id] = time.Now()
	s.usedMu.Unlock()
	has, err := s.blobs.Has(ctx, id)
	if err != nil {
		return false, fmt.Errorf("codestore: chunk %s: %w", id, err)
	}
	if has {
		return false, nil
	}
	if err := s.blobs.Put(ctx, id, sealed); err != nil {
		return false, fmt.Errorf("codestore: chunk %s: %w", id, err)
	}
	return true, nil
}

// chunkLock is the lock of id's stripe.
func (s *Store) chunkLock(id string) *sync.Mutex {
	var h byte
	if id != "" {
		h = id[len(id)-1] ^ id[0]
	}
	return &s.chunkLocks[int(h)%len(s.chunkLocks)]
}

// Zip reassembles the original zip from its chunks, checking every chunk and the whole
// package's SHA-256 against the manifest.
func (s *Store) Zip(ctx context.Context, m Manifest) ([]byte, error) {
	if _, err := m.HexSha256(); err != nil {
		return nil, err
	}
	var total int64
	for _, c := range m.Chunks {
		if id, err := hex.DecodeString(c.ID); err != nil || len(id) != sha256.Size {
			return nil, fmt.Errorf("%w: chunk id %q is not a hex SHA-256", ErrBadManifest, c.ID)
		}
		if c.Size <= 0 || c.Size > chunkMax {
			return nil, fmt.Errorf("%w: chunk %s has size %d", ErrBadManifest, c.ID, c.Size)
		}
		total += int64(c.Size)
	}
	if total != m.Size {
		return nil, fmt.Errorf("%w: chunks add up to %d bytes, package is %d", ErrBadManifest, total, m.Size)
	}
	out := make([]byte, 0, m.Size)
	for i, c := range m.Chunks {
		sealed, err := s.blobs.Get(ctx, c.ID)
		if err != nil {
			return nil, fmt.Errorf("codestore: package %s chunk %d: %w", m.Sha256, i, err)
		}
		plain, err := open(c, sealed)
		if err != nil {
			return nil, fmt.Errorf("codestore: package %s chunk %d: %w", m.Sha256, i, err)
		}
		out = append(out, plain...)
	}
	sum := sha256.Sum256(out)
	if got := base64.StdEncoding.EncodeToString(sum[:]); got != m.Sha256 {
		return nil, fmt.Errorf("%w: package %s reassembled with sha256 %s", ErrCorrupt, m.Sha256, got)
	}
	return out, nil
}
