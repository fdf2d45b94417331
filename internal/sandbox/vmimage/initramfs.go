package vmimage

import (
	"bytes"
	"debug/elf"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/cavaliergopher/cpio"

	"github.com/ember-serverless/ember/internal/runtimes"
)

// Initramfs is the guest's first file tree: what the kernel unpacks into its root before it
// runs /init. Entries are added by path and written, parents first, as a newc cpio archive
// (the format the kernel reads). Everything belongs to root.
type Initramfs struct {
	entries map[string]*entry
}

type entry struct {
	mode fs.FileMode // type and permission bits
	link string      // a symbolic link's target
	src  string      // a regular file's content: this host file...
	data []byte      // ...or these bytes
}

// NewInitramfs returns an empty tree.
func NewInitramfs() *Initramfs {
	return &Initramfs{entries: map[string]*entry{}}
}

func (r *Initramfs) add(p string, e *entry) error {
	p = filepath.Clean("/" + p)
	if p == "/" {
		return nil
	}
	if old, ok := r.entries[p]; ok {
		if old.mode.Type() != e.mode.Type() {
			return fmt.Errorf("vmimage: initramfs: %s is both %v and %v", p, old.mode.Type(), e.mode.Type())
		}
		return nil
	}
	if err := r.Dir(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	r.entries[p] = e
	return nil
}

// Dir adds a directory (and its missing parents, 0755).
func (r *Initramfs) Dir(p string, perm fs.FileMode) error {
	return r.add(p, &entry{mode: fs.ModeDir | perm})
}

// Bytes adds a regular file holding b.
func (r *Initramfs) Bytes(p string, b []byte, perm fs.FileMode) error {
	return r.add(p, &entry{mode: perm, data: b})
}

// File adds a regular file with the content of the host file src.
func (r *Initramfs) File(p, src string, perm fs.FileMode) error {
	return r.add(p, &entry{mode: perm, src: src})
}

// Symlink adds a symbolic link.
func (r *Initramfs) Symlink(p, target string) error {
	return r.add(p, &entry{mode: fs.ModeSymlink | 0o777, link: target})
}

// HostPath adds a host path at the same place: a file, a symbolic link and what it points to,
// or a directory with everything in it. Its parent directories are recreated as on the host,
// symbolic links included (/bin -> usr/bin on a merged-/usr host).
func (r *Initramfs) HostPath(p string) error {
	return r.hostPath(filepath.Clean(p), 0)
}

// Programs adds host programs at their paths: an ELF binary with its program interpreter and
// the shared libraries it loads (runtimes.ELFClosure), a script as it is.
func (r *Initramfs) Programs(paths ...string) error {
	var elfs []string
	for _, p := range paths {
		if isELF(p) {
			elfs = append(elfs, p)
		} else if err := r.HostPath(p); err != nil {
			return err
		}
	}
	closure, err := runtimes.ELFClosure(elfs...)
	if err != nil {
		return fmt.Errorf("vmimage: initramfs: %w", err)
	}
	for _, p := range closure {
		if err := r.HostPath(p); err != nil {
			return err
		}
	}
	return nil
}

func isELF(p string) bool {
	f, err := elf.Open(p)
	if err != nil {
		return false
	}
	f.Close()
	return true
}

func (r *Initramfs) hostPath(p string, links int) error {
	if links > 40 {
		return fmt.Errorf("vmimage: initramfs: %s: too many levels of symbolic links", p)
	}
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	cur := "/"
	for i, part := range parts {
		next := filepath.Join(cur, part)
		last := i == len(parts)-1
		fi, err := os.Lstat(next)
		if err != nil {
			return fmt.Errorf("vmimage: initramfs: %w", err)
		}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(next)
			if err != nil {
				return fmt.Errorf("vmimage: initramfs: %w", err)
			}
			if err := r.Symlink(next, target); err != nil {
				return err
			}
			if !filepath.IsAbs(target) {
				target = filepath.Join(cur, target)
			}
			return r.hostPath(filepath.Join(append([]string{target}, parts[i+1:]...)...), links+1)
		case fi.IsDir() && last:
			return r.hostTree(next)
		case fi.IsDir():
			if err := r.Dir(next, perm(fi.Mode())); err != nil {
				return err
			}
			cur = next
		case fi.Mode().IsRegular() && last:
			return r.File(next, next, perm(fi.Mode()))
		default:
			return fmt.Errorf("vmimage: initramfs: %s is neither a directory, a file nor a link", next)
		}
	}
	return nil
}

// hostTree adds a host directory and everything in it; symbolic links in it are copied as
// links, not followed.
func (r *Initramfs) hostTree(dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return r.Dir(p, perm(fi.Mode()))
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return r.Symlink(p, target)
		case fi.Mode().IsRegular():
			return r.File(p, p, perm(fi.Mode()))
		}
		return nil // sockets, devices: nothing a test needs
	})
}

// perm keeps the permission, setuid, setgid and sticky bits of a mode.
func perm(m fs.FileMode) fs.FileMode {
	return m & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
}

// cpioMode converts a Go file mode into cpio's (which is stat(2)'s st_mode).
func cpioMode(m fs.FileMode) cpio.FileMode {
	c := cpio.FileMode(m.Perm())
	if m&fs.ModeSetuid != 0 {
		c |= cpio.ModeSetuid
	}
	if m&fs.ModeSetgid != 0 {
		c |= cpio.ModeSetgid
	}
	if m&fs.ModeSticky != 0 {
		c |= cpio.ModeSticky
	}
	switch {
	case m.IsDir():
		c |= cpio.TypeDir
	case m&fs.ModeSymlink != 0:
		c |= cpio.TypeSymlink
	default:
		c |= cpio.TypeReg
	}
	return c
}

// WriteFile writes the tree as a cpio archive (uncompressed: under TCG the kernel would
// decompress slowly what it reads from memory anyway).
func (r *Initramfs) WriteFile(name string) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	if err := r.write(f); err != nil {
		f.Close()
		return fmt.Errorf("vmimage: initramfs: %w", err)
	}
	return f.Close()
}

func (r *Initramfs) write(w io.Writer) error {
	cw := cpio.NewWriter(w)
	// Sorted, a directory comes before what is in it.
	for _, p := range slices.Sorted(maps.Keys(r.entries)) {
		if err := r.entries[p].write(cw, strings.TrimPrefix(p, "/")); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
	}
	return cw.Close()
}

func (e *entry) write(cw *cpio.Writer, name string) error {
	h := &cpio.Header{Name: name, Mode: cpioMode(e.mode), Links: 1}
	var body io.Reader
	switch {
	case e.mode.IsDir():
		h.Links = 2
	case e.mode&fs.ModeSymlink != 0:
		h.Size, body = int64(len(e.link)), strings.NewReader(e.link)
	case e.src != "":
		f, err := os.Open(e.src)
		if err != nil {
			return err
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			return err
		}
		h.Size, body = fi.Size(), f
	default:
		h.Size, body = int64(len(e.data)), bytes.NewReader(e.data)
	}
	if err := cw.WriteHeader(h); err != nil {
		return err
	}
	if body == nil {
		return nil
	}
	n, err := io.Copy(cw, body)
	if err == nil && n != h.Size {
		err = fmt.Errorf("wrote %d of %d bytes", n, h.Size)
	}
	return err
}

// WriteDir writes the tree into dir, an empty directory, as files: the content of a file
// system image (mkfs.ext4 -d) rather than of an archive.
func (r *Initramfs) WriteDir(dir string) error {
	for _, p := range slices.Sorted(maps.Keys(r.entries)) {
		e, dst := r.entries[p], filepath.Join(dir, p)
		var err error
		switch {
		case e.mode.IsDir():
			if err = os.Mkdir(dst, 0o755); err == nil {
				err = os.Chmod(dst, perm(e.mode))
			}
		case e.mode&fs.ModeSymlink != 0:
			err = os.Symlink(e.link, dst)
		case e.src != "":
			err = copyFile(e.src, dst, e.mode.Perm())
		default:
			err = os.WriteFile(dst, e.data, e.mode.Perm())
		}
		if err != nil {
			return fmt.Errorf("vmimage: %s: %w", p, err)
		}
	}
	return nil
}

func copyFile(src, dst string, perm fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Chmod(dst, perm) // past the umask
}
