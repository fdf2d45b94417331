package codestore

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/ember-serverless/ember/internal/testenv"
)

// TestPackagesMadeByInfoZIPUnpackFaithfully builds a package the way users do, with Info-ZIP's
// zip -r -y (symlinks stored as links), and checks exec bits, links and contents survive.
func TestPackagesMadeByInfoZIPUnpackFaithfully(t *testing.T) {
	zipTool := testenv.NeedCommand(t, "zip", "zip")
	src := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(src, "bootstrap"), []byte("#!/bin/sh\necho hi\n"), 0o755))
	must(os.MkdirAll(filepath.Join(src, "lib"), 0o755))
	must(os.WriteFile(filepath.Join(src, "lib", "libx.so.1"), []byte("elf"), 0o644))
	must(os.Symlink("libx.so.1", filepath.Join(src, "lib", "libx.so")))
	out := filepath.Join(t.TempDir(), "function.zip")
	cmd := exec.Command(zipTool, "-q", "-r", "-y", out, ".")
	cmd.Dir = src
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("zip: %v\n%s", err, b)
	}
	data, err := os.ReadFile(out)
	must(err)

	ctx := context.Background()
	s := New(NewMemBlobs(), t.TempDir())
	m, err := s.Put(ctx, data)
	must(err)
	dir, err := s.Unpacked(ctx, m)
	must(err)

	fi, err := os.Stat(filepath.Join(dir, "bootstrap"))
	must(err)
	if fi.Mode().Perm() != 0o555 {
		t.Errorf("bootstrap mode = %s, want -r-xr-xr-x", fi.Mode())
	}
	target, err := os.Readlink(filepath.Join(dir, "lib", "libx.so"))
	if err != nil || target != "libx.so.1" {
		t.Errorf("lib/libx.so links to %q, %v; want libx.so.1", target, err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "lib", "libx.so")); err != nil || string(b) != "elf" {
		t.Errorf("reading through the link: %q, %v", b, err)
	}
}
