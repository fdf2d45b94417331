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
// InvalidParameterValueException, and whatever it accepts must unpack completely without
// writing anything outside the root (links may point anywhere; none is ever written through).
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
		parent := t.TempDir()
		root := filepath.Join(parent, "root")
		if err := os.Mkdir(root, 0o755); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { removeTree(root) })
		if err := extract(root, p, s.maxUnzipped); err != nil {
			t.Fatalf("an accepted package failed to unpack: %v", err)
		}
		checkNothingOutside(t, parent, root)
	})
}

// checkNothingOutside fails if extracting into root wrote anything else into parent, or left
// anything in root that is not a directory, a regular file or a symbolic link.
func checkNothingOutside(t *testing.T, parent, root string) {
	t.Helper()
	if ents, err := os.ReadDir(parent); err != nil || len(ents) != 1 {
		t.Errorf("extraction wrote beside its root: %v, %v", ents, err)
	}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink == 0 && !d.IsDir() && !d.Type().IsRegular() {
			t.Errorf("%s: unexpected file type %s", p, d.Type())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
