package vmimage

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/cavaliergopher/cpio"
)

func TestAnInitramfsHoldsHostPathsWithTheirLinkedParentsAndTargets(t *testing.T) {
	host := t.TempDir()
	os.MkdirAll(filepath.Join(host, "usr", "bin"), 0o755)
	os.MkdirAll(filepath.Join(host, "usr", "lib", "py", "sub"), 0o755)
	os.Symlink("usr/bin", filepath.Join(host, "bin"))
	os.WriteFile(filepath.Join(host, "usr", "bin", "dash"), []byte("dash"), 0o755)
	os.Symlink("dash", filepath.Join(host, "usr", "bin", "sh"))
	os.WriteFile(filepath.Join(host, "usr", "lib", "py", "sub", "m.py"), []byte("pass"), 0o644)

	r := NewInitramfs()
	for _, p := range []string{filepath.Join(host, "bin", "sh"), filepath.Join(host, "usr", "lib", "py")} {
		if err := r.HostPath(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Dir("/tmp", 0o777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	if err := r.Bytes("/vmtest/plan.json", []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := r.Symlink("/tmp", "x"); err == nil {
		t.Error("a directory became a link")
	}
	out := filepath.Join(t.TempDir(), "initramfs.cpio")
	if err := r.WriteFile(out); err != nil {
		t.Fatal(err)
	}

	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	var order []string
	cr := cpio.NewReader(bytes.NewReader(b))
	for {
		h, err := cr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(cr)
		desc := h.Mode.String()
		switch {
		case h.Linkname != "":
			desc += " -> " + h.Linkname
		case len(body) > 0:
			desc += " " + string(body)
		}
		got["/"+h.Name] = desc
		order = append(order, "/"+h.Name)
	}
	rel := func(p string) string { return filepath.Join(host, p) }
	for p, want := range map[string]string{
		rel("bin"):                 "0120777 -> usr/bin",
		rel("usr/bin"):             "040755",
		rel("usr/bin/sh"):          "0120777 -> dash",
		rel("usr/bin/dash"):        "0100755 dash",
		rel("usr/lib/py/sub/m.py"): "0100644 pass",
		"/tmp":                     "041777",
		"/vmtest/plan.json":        "0100644 {}",
	} {
		if got[p] != want {
			t.Errorf("%s = %q, want %q", p, got[p], want)
		}
	}
	seen := map[string]bool{}
	for _, p := range order {
		if d := filepath.Dir(p); d != "/" && !seen[d] {
			t.Errorf("%s comes before its directory", p)
		}
		seen[p] = true
	}
}

func TestATreeWrittenAsADirectoryHoldsItsFilesLinksAndModes(t *testing.T) {
	src := filepath.Join(t.TempDir(), "tool")
	os.WriteFile(src, []byte("#!/bin/sh\n"), 0o700)
	r := NewInitramfs()
	for _, err := range []error{
		r.File("/usr/bin/tool", src, 0o755),
		r.Symlink("/bin", "usr/bin"),
		r.Bytes("/etc/motd", []byte("hi"), 0o644),
		r.Dir("/tmp", os.ModeSticky|0o777),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	if err := r.WriteDir(dir); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "bin", "tool")); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("bin/tool through the link: %v, %v", fi, err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "etc", "motd")); string(b) != "hi" {
		t.Errorf("etc/motd = %q", b)
	}
	if fi, err := os.Stat(filepath.Join(dir, "tmp")); err != nil || fi.Mode()&os.ModeSticky == 0 || fi.Mode().Perm() != 0o777 {
		t.Errorf("tmp: %v, %v", fi, err)
	}
}
