package cli

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// ErrNotZip is returned when a file given as a deployment package is not a zip archive.
var ErrNotZip = errors.New("not a zip archive")

// zipEpoch is the modification time every entry gets, so that packaging the same files twice
// gives the same bytes (and so the same CodeSha256).
var zipEpoch = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)

// ZipDir packages the regular files under dir into a deployment zip, keeping each file's
// permission bits (so `bootstrap` stays executable) and naming entries relative to dir. Symbolic
// links are followed when they point at regular files; entries are in lexical order with a fixed
// timestamp, so the output depends only on the files' names, modes and contents.
func ZipDir(dir string) ([]byte, error) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if path == dir {
			return nil
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		name := filepath.ToSlash(rel)
		info, err := os.Stat(path) // follows links
		if err != nil {
			return err
		}
		switch {
		case info.IsDir():
			if d.Type()&fs.ModeSymlink != 0 {
				return fmt.Errorf("%s: links to directories are not packaged", name)
			}
			return nil
		case !info.Mode().IsRegular():
			return fmt.Errorf("%s: not a regular file", name)
		}
		h, err := zip.FileInfoHeader(info)
		if err != nil {
			return err
		}
		h.Name = name
		h.Method = zip.Deflate
		h.Modified = zipEpoch
		w, err := zw.CreateHeader(h)
		if err != nil {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(w, f)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("packaging %s: %w", dir, err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("packaging %s: %w", dir, err)
	}
	return buf.Bytes(), nil
}

// ReadPackage returns the deployment zip for path: the zip itself when path is a file, or a
// zip of its contents (ZipDir) when path is a directory.
func ReadPackage(path string) ([]byte, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if info.IsDir() {
		return ZipDir(path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if _, err := zip.NewReader(bytes.NewReader(b), int64(len(b))); err != nil {
		return nil, fmt.Errorf("%s: %w: %v", path, ErrNotZip, err)
	}
	return b, nil
}
