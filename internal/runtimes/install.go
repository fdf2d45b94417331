package runtimes

import (
	"bytes"
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// The clients' entry points inside their family's directory.
const (
	nodeClient   = "index.mjs"
	pythonClient = "bootstrap.py"
)

// clients holds the runtime clients, one directory per family.
//
//go:embed nodejs python
var clients embed.FS

// Install writes the embedded runtime clients under dir, one directory per family
// (dir/nodejs, dir/python), readable by everyone, and returns the host directory to mount at
// /var/runtime for each managed runtime of t. Files already holding the right bytes are left
// alone; others are replaced atomically, so sandboxes running meanwhile never see a partial file.
func (t *Table) Install(dir string) (map[string]string, error) {
	families := map[Family]string{}
	for _, fam := range []Family{NodeJS, Python} {
		dst := filepath.Join(dir, string(fam))
		if err := writeTree(clients, string(fam), dst); err != nil {
			return nil, fmt.Errorf("runtimes: installing the %s client: %w", fam, err)
		}
		families[fam] = dst
	}
	out := map[string]string{}
	for _, r := range t.Managed() {
		out[r.Name] = families[r.Family]
	}
	return out, nil
}

func writeTree(src fs.FS, root, dst string) error {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	// MkdirAll leaves an existing directory's mode; the sandbox user must be able to read it.
	if err := os.Chmod(dst, 0o755); err != nil {
		return err
	}
	return fs.WalkDir(src, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			if rel == "." {
				return nil
			}
			return os.MkdirAll(target, 0o755)
		}
		want, err := fs.ReadFile(src, p)
		if err != nil {
			return err
		}
		if have, err := os.ReadFile(target); err == nil && bytes.Equal(have, want) {
			return os.Chmod(target, 0o644)
		}
		tmp, err := os.CreateTemp(filepath.Dir(target), ".tmp-*")
		if err != nil {
			return err
		}
		defer os.Remove(tmp.Name())
		if _, err := tmp.Write(want); err != nil {
			tmp.Close()
			return err
		}
		if err := tmp.Chmod(0o644); err != nil {
			tmp.Close()
			return err
		}
		if err := tmp.Close(); err != nil {
			return err
		}
		return os.Rename(tmp.Name(), target)
	})
}
