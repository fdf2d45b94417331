package codestore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// unpackCall is one extraction in progress, shared by every caller asking for the same package.
type unpackCall struct {
	done chan struct{}
	dir  string
	err  error
}

// Unpacked returns the directory holding the package's files, extracting it on first use. The
// directory is cacheDir/<hex sha256>; its files are read-only with their exec bits kept, its
// directories 0555, and symbolic links in the package are links there too. Concurrent calls for
// one package extract it once; later calls return the existing directory.
func (s *Store) Unpacked(ctx context.Context, m Manifest) (string, error) {
	hexSum, err := m.HexSha256()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(s.cacheDir, hexSum)
	if isDir(dir) {
		return dir, nil
	}
	s.mu.Lock()
	c, ok := s.inflight[hexSum]
	if !ok {
		c = &unpackCall{done: make(chan struct{})}
		s.inflight[hexSum] = c
		// One caller giving up must not fail the others waiting on the same extraction.
		go s.unpack(context.WithoutCancel(ctx), m, hexSum, c)
	}
	s.mu.Unlock()
	select {
	case <-c.done:
		return c.dir, c.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

func (s *Store) unpack(ctx context.Context, m Manifest, hexSum string, c *unpackCall) {
	c.dir, c.err = s.extractOnce(ctx, m, hexSum)
	s.mu.Lock()
	delete(s.inflight, hexSum)
	s.mu.Unlock()
	close(c.done)
}

func (s *Store) extractOnce(ctx context.Context, m Manifest, hexSum string) (string, error) {
	dir := filepath.Join(s.cacheDir, hexSum)
	if isDir(dir) {
		return dir, nil
	}
	data, err := s.Zip(ctx, m)
	if err != nil {
		return "", err
	}
	p, err := s.parse(data)
	if err != nil {
		return "", fmt.Errorf("codestore: package %s: %w", m.Sha256, err)
	}
	if err := os.MkdirAll(s.cacheDir, 0o755); err != nil {
		return "", fmt.Errorf("codestore: cache dir: %w", err)
	}
	tmp, err := os.MkdirTemp(s.cacheDir, ".unpack-"+hexSum[:16]+"-")
	if err != nil {
		return "", fmt.Errorf("codestore: cache dir: %w", err)
	}
	s.extractions.Add(1)
	if err := extract(tmp, p, s.maxUnzipped); err != nil {
		removeTree(tmp)
		return "", fmt.Errorf("codestore: unpacking %s: %w", m.Sha256, err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		removeTree(tmp)
		if isDir(dir) { // another process extracted it first
			return dir, nil
		}
		return "", fmt.Errorf("codestore: unpacking %s: %w", m.Sha256, err)
	}
	s.logger.Info("code package unpacked", "sha256", m.Sha256, "dir", dir,
		"files", p.info.Files, "unzipped_size", p.info.UnzippedSize)
	return dir, nil
}

// extract writes p's entries under dir. All writes go through an os.Root, so even a mistake in
// validation cannot write outside dir.
func extract(dir string, p *pkg, maxUnzipped int64) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()

	dirs := make(map[string]bool)
	var made []string // in creation order, so the result never depends on map order
	mkdirs := func(name string) error {
		if name == "." || dirs[name] {
			return nil
		}
		if err := root.MkdirAll(name, 0o755); err != nil {
			return err
		}
		for d := name; d != "." && !dirs[d]; d = path.Dir(d) {
			dirs[d] = true
			made = append(made, d)
		}
		return nil
	}
	remaining := maxUnzipped
	for _, e := range p.entries {
		switch e.kind {
		case entryDir:
			err = mkdirs(e.name)
		case entryFile:
			if err = mkdirs(path.Dir(e.name)); err == nil {
				var n int64
				n, err = writeFile(root, e, remaining)
				remaining -= n
			}
		case entrySymlink:
			if err = mkdirs(path.Dir(e.name)); err == nil {
				err = root.Symlink(e.target, e.name)
			}
		}
		if err != nil {
			return fmt.Errorf("entry %q: %w", e.file.Name, err)
		}
	}

	// Directories become read-only last, deepest first.
	sort.SliceStable(made, func(i, j int) bool {
		return strings.Count(made[i], "/") > strings.Count(made[j], "/")
	})
	for _, d := range made {
		if err := root.Chmod(d, 0o555); err != nil {
			return err
		}
	}
	return os.Chmod(dir, 0o555)
}

// writeFile creates one regular file with at most limit bytes and returns how many it wrote.
func writeFile(root *os.Root, e entry, limit int64) (int64, error) {
	rc, err := e.file.Open()
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	f, err := root.OpenFile(e.name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(f, io.LimitReader(rc, limit+1))
	if err == nil && n > limit {
		err = errors.New("package inflates past the unzipped size limit")
	}
	if err == nil {
		err = f.Chmod(e.perm)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && !e.file.Modified.IsZero() {
		// Runtimes compare source and cache times (Python's .pyc), so keep the package's.
		err = root.Chtimes(e.name, e.file.Modified, e.file.Modified)
	}
	return n, err
}

// Evict removes the package's unpacked copy, if there is one. Sandboxes still using it must be
// gone first.
func (s *Store) Evict(m Manifest) error {
	hexSum, err := m.HexSha256()
	if err != nil {
		return err
	}
	return s.evictDir(hexSum)
}

// evictDir removes the unpacked copy cacheDir/hexSum.
func (s *Store) evictDir(hexSum string) error {
	var suffix [8]byte
	_, _ = rand.Read(suffix[:])
	trash := filepath.Join(s.cacheDir, ".evict-"+hexSum[:16]+"-"+hex.EncodeToString(suffix[:]))
	// Renaming first makes the copy disappear at once, so no caller sees it half removed.
	if err := os.Rename(filepath.Join(s.cacheDir, hexSum), trash); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("codestore: evicting %s: %w", hexSum, err)
	}
	if err := removeTree(trash); err != nil {
		return fmt.Errorf("codestore: evicting %s: %w", hexSum, err)
	}
	s.logger.Info("code package evicted", "sha256_hex", hexSum)
	return nil
}

// removeTree removes a read-only tree made by extract.
func removeTree(dir string) error {
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			_ = os.Chmod(p, 0o755)
		}
		return nil
	})
	return os.RemoveAll(dir)
}

func isDir(p string) bool {
	fi, err := os.Lstat(p)
	return err == nil && fi.IsDir()
}

// RemoveStale deletes what interrupted extractions and evictions left in the cache directory.
// Call it at startup, before any other process shares the directory.
func (s *Store) RemoveStale() error {
	entries, err := os.ReadDir(s.cacheDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("codestore: cache dir: %w", err)
	}
	var errs []error
	for _, e := range entries {
		if n := e.Name(); strings.HasPrefix(n, ".unpack-") || strings.HasPrefix(n, ".evict-") {
			errs = append(errs, removeTree(filepath.Join(s.cacheDir, n)))
		}
	}
	return errors.Join(errs...)
}
