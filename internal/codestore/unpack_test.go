package codestore

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func TestUnpackedGivesAReadOnlyCopyThatKeepsExecBits(t *testing.T) {
	ctx := context.Background()
	cache := t.TempDir()
	s := New(NewMemBlobs(), cache)
	zip := buildZip(t,
		exe("bootstrap", "#!/bin/sh\necho hi\n"),
		dir("lib/"),
		file("lib/data.txt", "data"),
		zfile{name: "bin/tool", body: []byte("tool"), mode: 0o700},
		zfile{name: "setuid", body: []byte("x"), mode: fs.ModeSetuid | 0o4755},
		symlink("lib/link", "data.txt"),
		symlink("current", "lib"),
	)
	m, err := s.Put(ctx, zip)
	if err != nil {
		t.Fatal(err)
	}
	dirPath, err := s.Unpacked(ctx, m)
	if err != nil {
		t.Fatalf("Unpacked: %v", err)
	}
	hexSum, _ := m.HexSha256()
	if want := filepath.Join(cache, hexSum); dirPath != want {
		t.Errorf("dir = %s, want %s", dirPath, want)
	}

	modes := []struct {
		name string
		want fs.FileMode
	}{
		{".", fs.ModeDir | 0o555},
		{"bootstrap", 0o555},
		{"lib", fs.ModeDir | 0o555},
		{"lib/data.txt", 0o444},
		{"bin", fs.ModeDir | 0o555},
		{"bin/tool", 0o555},
		{"setuid", 0o555},
		{"lib/link", fs.ModeSymlink},
		{"current", fs.ModeSymlink},
	}
	for _, tt := range modes {
		t.Run(tt.name+" has mode "+tt.want.String(), func(t *testing.T) {
			fi, err := os.Lstat(filepath.Join(dirPath, tt.name))
			if err != nil {
				t.Fatal(err)
			}
			got := fi.Mode()
			if got.Type() == fs.ModeSymlink {
				got = fs.ModeSymlink // link permission bits mean nothing on Linux
			}
			if got != tt.want {
				t.Errorf("mode = %s, want %s", got, tt.want)
			}
		})
	}

	contents := []struct{ name, want string }{
		{"bootstrap", "#!/bin/sh\necho hi\n"},
		{"lib/link", "data"},
		{"current/data.txt", "data"},
	}
	for _, tt := range contents {
		t.Run(tt.name+" reads back", func(t *testing.T) {
			got, err := os.ReadFile(filepath.Join(dirPath, tt.name))
			if err != nil || string(got) != tt.want {
				t.Errorf("read %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	if target, err := os.Readlink(filepath.Join(dirPath, "current")); err != nil || target != "lib" {
		t.Errorf("current links to %q, %v; want lib", target, err)
	}

	again, err := s.Unpacked(ctx, m)
	if err != nil || again != dirPath {
		t.Fatalf("second Unpacked = %q, %v; want %q", again, err, dirPath)
	}
	if n := s.extractions.Load(); n != 1 {
		t.Errorf("extracted %d times, want once", n)
	}
	entries, _ := os.ReadDir(cache)
	if len(entries) != 1 {
		t.Errorf("cache holds %d entries, want only the package's directory", len(entries))
	}
}

func TestUnpackedKeepsTheZipsModificationTimes(t *testing.T) {
	ctx := context.Background()
	s := New(NewMemBlobs(), t.TempDir())
	modified := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	buf := buildZipAt(t, modified, file("handler.py", "def handler(e, c): pass\n"))
	m, err := s.Put(ctx, buf)
	if err != nil {
		t.Fatal(err)
	}
	dirPath, err := s.Unpacked(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dirPath, "handler.py"))
	if err != nil {
		t.Fatal(err)
	}
	if !fi.ModTime().Equal(modified) {
		t.Errorf("mtime = %s, want %s", fi.ModTime().UTC(), modified)
	}
}

func TestConcurrentUnpackedCallsExtractOnce(t *testing.T) {
	ctx := context.Background()
	s := New(NewMemBlobs(), t.TempDir())
	m, err := s.Put(ctx, bigPackage(t, -1))
	if err != nil {
		t.Fatal(err)
	}
	const callers = 16
	dirs := make([]string, callers)
	errs := make([]error, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() { dirs[i], errs[i] = s.Unpacked(ctx, m) })
	}
	wg.Wait()
	for i := range callers {
		if errs[i] != nil || dirs[i] != dirs[0] {
			t.Errorf("caller %d got %q, %v; want %q", i, dirs[i], errs[i], dirs[0])
		}
	}
	if n := s.extractions.Load(); n != 1 {
		t.Errorf("extracted %d times, want once", n)
	}
}

func TestASecondStoreOnTheSameCacheReusesTheDirectory(t *testing.T) {
	ctx := context.Background()
	blobs, cache := NewMemBlobs(), t.TempDir()
	first := New(blobs, cache)
	m, err := first.Put(ctx, buildZip(t, exe("bootstrap", "#!")))
	if err != nil {
		t.Fatal(err)
	}
	d1, err := first.Unpacked(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	second := New(blobs, cache)
	d2, err := second.Unpacked(ctx, m)
	if err != nil || d2 != d1 {
		t.Fatalf("second store got %q, %v; want %q", d2, err, d1)
	}
	if n := second.extractions.Load(); n != 0 {
		t.Errorf("the second store extracted %d times, want none", n)
	}
}

func TestEvictRemovesTheUnpackedCopy(t *testing.T) {
	ctx := context.Background()
	cache := t.TempDir()
	s := New(NewMemBlobs(), cache)
	m, err := s.Put(ctx, buildZip(t, dir("a/b/"), file("a/b/c", "x"), exe("bootstrap", "#!")))
	if err != nil {
		t.Fatal(err)
	}
	d, err := s.Unpacked(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Evict(m); err != nil {
		t.Fatalf("Evict: %v", err)
	}
	if _, err := os.Lstat(d); !os.IsNotExist(err) {
		t.Errorf("after Evict, stat %s: %v; want not exist", d, err)
	}
	if entries, _ := os.ReadDir(cache); len(entries) != 0 {
		t.Errorf("cache still holds %d entries", len(entries))
	}
	if err := s.Evict(m); err != nil {
		t.Errorf("evicting a package not unpacked: %v; want nil", err)
	}
	if d2, err := s.Unpacked(ctx, m); err != nil || d2 != d {
		t.Errorf("Unpacked after Evict = %q, %v", d2, err)
	}
	if n := s.extractions.Load(); n != 2 {
		t.Errorf("extracted %d times, want twice", n)
	}
}

func TestRemoveStaleClearsLeftoversButKeepsPackages(t *testing.T) {
	ctx := context.Background()
	cache := t.TempDir()
	s := New(NewMemBlobs(), cache)
	m, err := s.Put(ctx, buildZip(t, exe("bootstrap", "#!")))
	if err != nil {
		t.Fatal(err)
	}
	d, err := s.Unpacked(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{".unpack-0123-99", ".evict-0123-aa"} {
		if err := os.MkdirAll(filepath.Join(cache, name, "sub"), 0o555); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.RemoveStale(); err != nil {
		t.Fatalf("RemoveStale: %v", err)
	}
	entries, _ := os.ReadDir(cache)
	if len(entries) != 1 || filepath.Join(cache, entries[0].Name()) != d {
		t.Errorf("cache holds %v, want only %s", entries, d)
	}
}

// TestLinksOutOfThePackageAreUnpackedAsLinksAndNeverFollowed unpacks links that point out of
// the package (kept as they are, for the sandbox to resolve) and checks that extraction never
// writes through a link to the host, even for entries validation would have refused.
func TestLinksOutOfThePackageAreUnpackedAsLinksAndNeverFollowed(t *testing.T) {
	ctx := context.Background()
	host := t.TempDir() // stands in for the host's /etc
	s := New(NewMemBlobs(), t.TempDir())
	m, err := s.Put(ctx, buildZip(t,
		exe("node_modules/pkg/bin/x", "#!/bin/sh\n"),
		symlink("node_modules/.bin/x", "../pkg/bin/x"),
		symlink("venv/bin/python", "/usr/bin/python3"),
		symlink("hostdir", host),
	))
	if err != nil {
		t.Fatal(err)
	}
	dir, err := s.Unpacked(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"node_modules/.bin/x": "../pkg/bin/x",
		"venv/bin/python":     "/usr/bin/python3",
		"hostdir":             host,
	} {
		if got, err := os.Readlink(filepath.Join(dir, name)); err != nil || got != want {
			t.Errorf("%s links to %q, %v; want %q", name, got, err, want)
		}
	}

	t.Run("a package writing beneath a link to a host directory is refused", func(t *testing.T) {
		_, err := s.Put(ctx, buildZip(t, symlink("evil", host), file("evil/passwd", "owned")))
		wantInvalid(t, err, `Could not unzip uploaded file. Entry "evil/passwd" is inside "evil", which is not a directory.`)
	})
	t.Run("extraction does not write through a link even when validation let it", func(t *testing.T) {
		p, err := s.parse(buildZip(t, symlink("evil", host), file("other", "owned")))
		if err != nil {
			t.Fatal(err)
		}
		// Point the file entry beneath the link, as a validation mistake would.
		for i := range p.entries {
			if p.entries[i].name == "other" {
				p.entries[i].name = "evil/passwd"
			}
		}
		root := filepath.Join(t.TempDir(), "root")
		if err := os.Mkdir(root, 0o755); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { removeTree(root) })
		if err := extract(root, p, s.maxUnzipped); err == nil {
			t.Error("extract wrote beneath a link")
		}
	})
	if ents, _ := os.ReadDir(host); len(ents) != 0 {
		t.Errorf("the host directory was written: %v", ents)
	}
}
