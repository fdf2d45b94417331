package cli

import (
	"archive/zip"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestZipDir(t *testing.T) {
	dir := t.TempDir()
	mustWrite(t, filepath.Join(dir, "bootstrap"), "#!/bin/sh\n", 0o755)
	mustWrite(t, filepath.Join(dir, "lib", "data.txt"), "data", 0o644)

	b, err := ZipDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*zip.File{}
	for _, f := range zr.File {
		got[f.Name] = f
	}
	tests := []struct {
		name     string
		entry    string
		mode     os.FileMode
		contents string
	}{
		{"an executable keeps its exec bits", "bootstrap", 0o755, "#!/bin/sh\n"},
		{"a file in a subdirectory is named with a slash and keeps its mode", "lib/data.txt", 0o644, "data"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, ok := got[tt.entry]
			if !ok {
				t.Fatalf("no entry %q in %v", tt.entry, got)
			}
			if f.Mode().Perm() != tt.mode {
				t.Errorf("mode = %v, want %v", f.Mode().Perm(), tt.mode)
			}
			rc, err := f.Open()
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			c, _ := io.ReadAll(rc)
			if string(c) != tt.contents {
				t.Errorf("contents = %q, want %q", c, tt.contents)
			}
		})
	}
	if len(got) != 2 {
		t.Errorf("entries = %d, want 2 (directories are not stored)", len(got))
	}

	t.Run("packaging the same files twice gives the same bytes", func(t *testing.T) {
		again, err := ZipDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b, again) {
			t.Error("two packagings differ")
		}
	})
}

func TestReadPackage(t *testing.T) {
	dir := t.TempDir()
	mustWrite(t, filepath.Join(dir, "fn", "bootstrap"), "x", 0o755)
	zipped, err := ZipDir(filepath.Join(dir, "fn"))
	if err != nil {
		t.Fatal(err)
	}
	mustWrite(t, filepath.Join(dir, "fn.zip"), string(zipped), 0o644)
	mustWrite(t, filepath.Join(dir, "notzip.zip"), "hello", 0o644)

	t.Run("a directory is zipped", func(t *testing.T) {
		b, err := ReadPackage(filepath.Join(dir, "fn"))
		if err != nil || !bytes.Equal(b, zipped) {
			t.Fatalf("ReadPackage(dir) = %d bytes, %v; want the ZipDir bytes", len(b), err)
		}
	})
	t.Run("a zip file is read as it is", func(t *testing.T) {
		b, err := ReadPackage(filepath.Join(dir, "fn.zip"))
		if err != nil || !bytes.Equal(b, zipped) {
			t.Fatalf("ReadPackage(zip) = %d bytes, %v; want the file's bytes", len(b), err)
		}
	})
	t.Run("a file that is not a zip is refused", func(t *testing.T) {
		if _, err := ReadPackage(filepath.Join(dir, "notzip.zip")); !errors.Is(err, ErrNotZip) {
			t.Fatalf("err = %v, want ErrNotZip", err)
		}
	})
}

func mustWrite(t *testing.T, path, contents string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(contents), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // umask-proof
		t.Fatal(err)
	}
}
