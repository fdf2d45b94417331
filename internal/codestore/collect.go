package codestore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// BlobInfo is a stored blob as a collector sees it.
type BlobInfo struct {
	ID string
	// Size is the blob's length in bytes.
	Size int64
	// Modified is when the blob was stored.
	Modified time.Time
}

// SweepableBlobs is Blobs that can be listed and deleted, which Collect needs.
type SweepableBlobs interface {
	Blobs
	// List returns every stored blob.
	List(ctx context.Context) ([]BlobInfo, error)
	// Delete removes the blob stored under id and everything recording it; deleting an id that
	// is not stored is not an error.
	Delete(ctx context.Context, id string) error
}

// InUse is what a collection must keep: every package some function, version or layer still
// references.
type InUse []Manifest

// CollectStats says what a collection removed.
type CollectStats struct {
	Blobs     int
	BlobBytes int64
	Unpacked  int
}

// Collect deletes the chunks and unpacked copies that no manifest in inUse references and that
// were stored, unpacked or used by Put last before cutoff. The cutoff is the collector's grace
// period: a package stored by Put is referenced by its caller's record only once that record
// is written, so a collection must keep what a create in flight may have just stored. Within
// one process Collect and Put exclude each other chunk by chunk, so a chunk Put finds already
// stored (and so does not store again) is never deleted under it: either Put marks it used
// first and Collect keeps it, or Collect deletes it first and Put stores it again.
//
// inUse must be read after the collection began (after cutoff was chosen); otherwise a record
// written between reading it and the cutoff could be missed.
func (s *Store) Collect(ctx context.Context, inUse InUse, cutoff time.Time) (CollectStats, error) {
	var st CollectStats
	sb, ok := s.blobs.(SweepableBlobs)
	if !ok {
		return st, errors.New("codestore: this blob store cannot be collected")
	}
	chunks := make(map[string]bool)
	packages := make(map[string]bool)
	for _, m := range inUse {
		for _, c := range m.Chunks {
			chunks[c.ID] = true
		}
		if h, err := m.HexSha256(); err == nil {
			packages[h] = true
		}
	}
	blobs, err := sb.List(ctx)
	if err != nil {
		return st, fmt.Errorf("codestore: collect: %w", err)
	}
	var errs []error
	for _, b := range blobs {
		if chunks[b.ID] || b.Modified.After(cutoff) {
			continue
		}
		deleted, err := s.deleteUnused(ctx, sb, b.ID, cutoff)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if deleted {
			st.Blobs++
			st.BlobBytes += b.Size
		}
	}
	s.forgetUsedBefore(cutoff)

	n, err := s.collectUnpacked(packages, cutoff)
	st.Unpacked = n
	errs = append(errs, err)
	if st.Blobs > 0 || st.Unpacked > 0 {
		s.logger.Info("code store collected", "blobs", st.Blobs, "blob_bytes", st.BlobBytes, "unpacked", st.Unpacked)
	}
	return st, errors.Join(errs...)
}

// deleteUnused deletes one chunk unless Put has used it since cutoff.
func (s *Store) deleteUnused(ctx context.Context, sb SweepableBlobs, id string, cutoff time.Time) (bool, error) {
	l := s.chunkLock(id)
	l.Lock()
	defer l.Unlock()
	s.usedMu.Lock()
	used, ok := s.used[id]
	s.usedMu.Unlock()
	if ok && used.After(cutoff) {
		return false, nil
	}
	if err := sb.Delete(ctx, id); err != nil {
		return false, fmt.Errorf("codestore: collect chunk %s: %w", id, err)
	}
	return true, nil
}

// forgetUsedBefore drops the uses a collection with this cutoff no longer needs.
func (s *Store) forgetUsedBefore(cutoff time.Time) {
	s.usedMu.Lock()
	defer s.usedMu.Unlock()
	for id, t := range s.used {
		if !t.After(cutoff) {
			delete(s.used, id)
		}
	}
}

// collectUnpacked evicts the unpacked copies of packages not in use and not unpacked since
// cutoff.
func (s *Store) collectUnpacked(inUse map[string]bool, cutoff time.Time) (int, error) {
	entries, err := os.ReadDir(s.cacheDir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("codestore: collect: %w", err)
	}
	n := 0
	var errs []error
	for _, e := range entries {
		name := e.Name()
		if !e.IsDir() || strings.HasPrefix(name, ".") || inUse[name] || !isHexSha256(name) {
			continue
		}
		fi, err := os.Lstat(filepath.Join(s.cacheDir, name))
		if err != nil || fi.ModTime().After(cutoff) {
			continue
		}
		if err := s.evictDir(name); err != nil {
			errs = append(errs, err)
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}

func isHexSha256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !('0' <= s[i] && s[i] <= '9' || 'a' <= s[i] && s[i] <= 'f') {
			return false
		}
	}
	return true
}
