//go:build linux

package gvisor

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// mergedLayers returns one directory holding layers merged in order, later layers' files
// winning, as Lambda extracts them into /opt: this runsc has no overlay mounts. The merge is
// made once per list of layer directories (which are content-addressed, so a list names its
// content) in Config.LayerDir, by hard links where the file system allows and copies
// otherwise, and reused.
func (b *Backend) mergedLayers(layers []string) (string, error) {
	if len(layers) == 1 {
		return layers[0], nil
	}
	sum := sha256.Sum256([]byte(strings.Join(layers, "\x00")))
	dir := filepath.Join(b.cfg.LayerDir, hex.EncodeToString(sum[:12]))
	b.layerMu.Lock()
	defer b.layerMu.Unlock()
	if _, err := os.Stat(dir); err == nil {
		return dir, nil
	}
	tmp := dir + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return "", fmt.Errorf("gvisor: %w", err)
	}
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return "", fmt.Errorf("gvisor: %w", err)
	}
	for _, l := range layers {
		if err := mergeInto(tmp, l); err != nil {
			os.RemoveAll(tmp)
			return "", fmt.Errorf("gvisor: merge layer %s: %w", l, err)
		}
	}
	if err := os.Rename(tmp, dir); err != nil {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("gvisor: %w", err)
	}
	return dir, nil
}

// mergeInto links (or copies) every entry of src into dst, replacing what is there.
func mergeInto(dst, src string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil || rel == "." {
			return err
		}
		to := filepath.Join(dst, rel)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		switch {
		case fi.IsDir():
			if old, err := os.Lstat(to); err == nil && !old.IsDir() {
				if err := os.Remove(to); err != nil {
					return err
				}
			}
			if err := os.MkdirAll(to, 0o755); err != nil {
				return err
			}
			return os.Chmod(to, fi.Mode().Perm())
		case fi.Mode()&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			if err := removeAny(to); err != nil {
				return err
			}
			return os.Symlink(link, to)
		case fi.Mode().IsRegular():
			if err := removeAny(to); err != nil {
				return err
			}
			if err := os.Link(p, to); err == nil {
				return nil
			}
			return copyFile(p, to, fi.Mode().Perm())
		}
		return nil // devices, sockets and the like are not part of a layer
	})
}

func removeAny(p string) error {
	if err := os.RemoveAll(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

func copyFile(from, to string, mode fs.FileMode) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
