package codestore

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ember-serverless/ember/internal/lambdaerr"
)

// FuzzValidate feeds arbitrary bytes to validation. It must never panic, must refuse with
// InvalidParameterValueException, and whatever it accepts must unpack completely inside the
// root, with no link that resolves outside it.
func FuzzValidate(f *testing.F) {
	deflated, crc := deflateZeros(f, 4096)
	seeds := [][]byte{
		buildZip(f, exe("bootstrap", "#!/bin/sh\n"), dir("lib/"), file("lib/a.txt", "hello")),
		buildZip(f, symlink("lib/link", "../bootstrap"), exe("bootstrap", "x")),
		buildZip(f, symlink("a/root", ".."), symlink("out", "a/root/..")),
		buildZip(f, symlink("l", "sub"), dir("sub/"), file("l/x", "x")),
		buildZip(f, file("../evil", "x")),
		buildZip(f, file(`a\..\..\b`, "x")),
		buildZip(f, zfile{name: "fifo", mode: fs.ModeNamedPipe | 0o644}),
		buildRawZip(f, rawEntry{name: "z", deflated: deflated, crc: crc, uncompressed: 4096}),
		[]byte("PK\x05\x06" + strings.Repeat("\x00", 18)),
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s := New(NewMemBlobs(), "", WithMaxUnzippedSize(1<<20), WithMaxFiles(256))
		p, err := s.parse(data)
		if err != nil {
			var le *lambdaerr.Error
			if !errors.As(err, &le) || le.Type != lambdaerr.InvalidParameterValue {
				t.Fatalf("refused with %v, want an InvalidParameterValueException", err)
			}
			return
		}
		root := filepath.Join(t.TempDir(), "root")
		if err := os.Mkdir(root, 0o755); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { removeTree(root) })
		if err := extract(root, p, s.maxUnzipped); err != nil {
			t.Fatalf("an accepted package failed to unpack: %v", err)
		}
		checkInsideRoot(t, root)
	})
}

// checkInsideRoot walks an unpacked tree and fails if any symbolic link resolves outside it.
// It resolves through an os.Root, which refuses to leave the directory, independently of the
// validator's own reasoning.
func checkInsideRoot(t *testing.T, root string) {
	t.Helper()
	r, err := os.OpenRoot(root)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink == 0 {
			if !d.IsDir() && !d.Type().IsRegular() {
				t.Errorf("%s: unexpected file type %s", p, d.Type())
			}
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		if _, err := r.Stat(rel); err != nil && strings.Contains(err.Error(), "escapes") {
			target, _ := os.Readlink(p)
			t.Errorf("link %s -> %s escapes the root: %v", rel, target, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
