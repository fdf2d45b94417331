//go:build linux

package microvm

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/ember-serverless/ember/internal/sandbox/microvm/agent"
	"github.com/ember-serverless/ember/internal/sandbox/microvm/wire"
	"github.com/ember-serverless/ember/internal/sandbox/vmimage"
)

// guestModules are the kernel modules the guest loads (with what they depend on): the virtio
// transport, its disks and serial ports, and loop and overlay for the jail's /tmp and layers.
// ext4 is built into Debian's cloud kernel.
var guestModules = []string{"virtio_mmio", "virtio_blk", "virtio_console", "loop", "overlay"}

// writeInitramfs packs the agent as /init with the guest's modules.
func writeInitramfs(k *vmimage.Kernel, agentPath, out string) error {
	r := vmimage.NewInitramfs()
	if err := r.File("/init", agentPath, 0o755); err != nil {
		return err
	}
	mods, err := k.Modules(guestModules...)
	if err != nil {
		return err
	}
	var order []string
	for _, m := range mods {
		if err := r.File(filepath.Join(agent.ModulesDir, filepath.Base(m)), m, 0o644); err != nil {
			return err
		}
		order = append(order, filepath.Base(m))
	}
	if err := r.Bytes(agent.ModulesOrder, []byte(strings.Join(order, "\n")+"\n"), 0o644); err != nil {
		return err
	}
	return r.WriteFile(out)
}

// rootTree is the root image's content: the guest tools with the libraries they load, the
// runtimes' interpreters, and the empty directories the agent mounts on.
func rootTree(tools []string, runtimePaths map[string][]string) (*vmimage.Initramfs, error) {
	r := vmimage.NewInitramfs()
	for _, d := range []string{"/dev", "/proc", "/sys", "/run", "/tmp", "/ember", "/etc"} {
		if err := r.Dir(d, 0o755); err != nil {
			return nil, err
		}
	}
	programs := []string{"/bin/sh"}
	for _, t := range tools {
		if p, err := exec.LookPath(t); err == nil {
			programs = append(programs, p)
		} // else it is not on this host: the guest goes without
	}
	if err := r.Programs(programs...); err != nil {
		return nil, err
	}
	for _, rt := range slices.Sorted(maps.Keys(runtimePaths)) {
		for _, p := range runtimePaths[rt] {
			if err := r.HostPath(p); err != nil {
				return nil, err
			}
		}
	}
	if _, err := os.Stat("/etc/mke2fs.conf"); err == nil {
		if err := r.File("/etc/mke2fs.conf", "/etc/mke2fs.conf", 0o644); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// makeExt4 makes out a read-only ext4 image of dir: no journal, sized to what it holds.
func makeExt4(dir, out string) error {
	var bytes_, files int64
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		files++
		if d.Type().IsRegular() {
			fi, err := d.Info()
			if err != nil {
				return err
			}
			bytes_ += (fi.Size() + 4095) &^ 4095
		}
		return nil
	})
	if err != nil {
		return err
	}
	sizeMB := bytes_*5/4>>20 + files*4096*2>>20 + 8
	tmp := out + ".tmp"
	os.Remove(tmp)
	if err := mkfsExt4(tmp, sizeMB, "-N", strconv.FormatInt(files+256, 10), "-E", "root_owner=0:0", "-d", dir); err != nil {
		return err
	}
	return os.Rename(tmp, out)
}

// mkfsExt4 makes out a sparse file of sizeMB holding an ext4 file system without a journal,
// made by mkfs.ext4 with the options opts; out is removed if that fails.
func mkfsExt4(out string, sizeMB int64, opts ...string) error {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	err = f.Truncate(sizeMB << 20)
	f.Close()
	if err != nil {
		return err
	}
	args := append(append([]string{"-q", "-F", "-O", "^has_journal"}, opts...), out)
	if b, err := exec.Command("mkfs.ext4", args...).CombinedOutput(); err != nil {
		os.Remove(out)
		return fmt.Errorf("mkfs.ext4 %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(b))
	}
	return nil
}

// rootImage returns the root image, making it if the cache has none for this configuration.
func (b *Backend) rootImage() (string, error) {
	tree, err := rootTree(b.cfg.GuestTools, b.cfg.RuntimeHostPaths)
	if err != nil {
		return "", fmt.Errorf("microvm: root image: %w", err)
	}
	h := sha256.New()
	fmt.Fprintln(h, "root v1", b.cfg.GuestTools, b.cfg.RuntimeHostPaths)
	out := filepath.Join(b.cfg.CacheDir, "root-"+hex.EncodeToString(h.Sum(nil))[:16]+".ext4")
	return b.cachedImage(out, "root image", tree.WriteDir)
}

// cachedImage returns the image out of the cache, first making it, if the cache has none, of
// a staging directory that fill writes; what names the image in errors.
func (b *Backend) cachedImage(out, what string, fill func(stage string) error) (string, error) {
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	stage, err := os.MkdirTemp(b.cfg.CacheDir, "stage-")
	if err != nil {
		return "", fmt.Errorf("microvm: %s: %w", what, err)
	}
	defer os.RemoveAll(stage)
	if err := fill(stage); err != nil {
		return "", fmt.Errorf("microvm: %s: %w", what, err)
	}
	if err := makeExt4(stage, out); err != nil {
		return "", fmt.Errorf("microvm: %s: %w", what, err)
	}
	return out, nil
}

// fnImage returns the function image of a code directory, its layers and its runtime's client,
// making it if the cache has none. Code and layer directories do not change once made (the
// code store unpacks each code hash into a directory of its own); the key also holds their
// modification times, so that a directory reused for other content is imaged again.
func (b *Backend) fnImage(code string, layers []string, runtimeDir string) (string, error) {
	h := sha256.New()
	fmt.Fprintln(h, "fn v1")
	for _, d := range append([]string{code, runtimeDir}, layers...) {
		if d == "" {
			fmt.Fprintln(h, "-")
			continue
		}
		fi, err := os.Stat(d)
		if err != nil {
			return "", fmt.Errorf("%w: %v", ErrInvalidSpec, err)
		}
		fmt.Fprintln(h, d, fi.ModTime().UnixNano())
	}
	out := filepath.Join(b.cfg.CacheDir, "fn-"+hex.EncodeToString(h.Sum(nil))[:24]+".ext4")
	copies := map[string]string{wire.FnCodeDir: code}
	if runtimeDir != "" {
		copies[wire.FnRuntimeDir] = runtimeDir
	}
	for i, l := range layers {
		copies[filepath.Join(wire.FnLayersDir, strconv.Itoa(i))] = l
	}
	b.imageMu.Lock()
	defer b.imageMu.Unlock()
	return b.cachedImage(out, "function image", func(stage string) error {
		if err := os.Chmod(stage, 0o755); err != nil {
			return err
		}
		if len(layers) > 0 {
			if err := os.Mkdir(filepath.Join(stage, wire.FnLayersDir), 0o755); err != nil {
				return err
			}
		}
		for dst, src := range copies {
			to := filepath.Join(stage, dst)
			if err := os.MkdirAll(to, 0o755); err != nil {
				return err
			}
			// cp keeps modes and links: the image must show what the jail would.
			if b, err := exec.Command("cp", "-a", "--no-preserve=ownership", src+"/.", to+"/").CombinedOutput(); err != nil {
				return fmt.Errorf("copy %s: %w: %s", src, err, bytes.TrimSpace(b))
			}
		}
		return nil
	})
}

// makeScratch makes a VM's scratch disk: a sparse ext4 image the guest's jail keeps the /tmp
// file systems of its sandbox in (and a few spares of the default size, as on a host).
func makeScratch(out string, ephemeralMB int) error {
	return mkfsExt4(out, int64(max(ephemeralMB, 512))*4+256, "-E", "lazy_itable_init=1,nodiscard")
}
