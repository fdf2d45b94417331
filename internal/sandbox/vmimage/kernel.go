package vmimage

import (
	"bufio"
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ErrNoKernel is wrapped when there is no kernel to boot.
var ErrNoKernel = errors.New("no kernel for the VM")

// Kernel is a Linux kernel to boot, with its modules.
type Kernel struct {
	// Vmlinux is the uncompressed image, which QEMU's microvm boots directly (PVH).
	Vmlinux string
	// Release is the kernel's release (uname -r), the name of its modules directory.
	Release string
	// ModDir is lib/modules/<Release> of the unpacked package.
	ModDir string
}

// FindKernel returns the kernel in dir, a directory holding an unpacked kernel package and its
// uncompressed image (vmlinux), as scripts/setup makes in .cache/vmtest/kernel; it wraps
// ErrNoKernel when there is none.
func FindKernel(dir string) (*Kernel, error) {
	k := &Kernel{Vmlinux: filepath.Join(dir, "vmlinux")}
	if _, err := os.Stat(k.Vmlinux); err != nil {
		return nil, fmt.Errorf("%w: %v (scripts/setup fetches Debian's cloud kernel there)", ErrNoKernel, err)
	}
	rels, _ := filepath.Glob(filepath.Join(dir, "lib", "modules", "*"))
	if len(rels) != 1 {
		return nil, fmt.Errorf("%w: want one release in %s/lib/modules, found %d", ErrNoKernel, dir, len(rels))
	}
	k.ModDir, k.Release = rels[0], filepath.Base(rels[0])
	return k, nil
}

// Modules returns the files of the named modules and of the modules they depend on,
// dependencies first, leaving out what the kernel has built in.
func (k *Kernel) Modules(names ...string) ([]string, error) {
	builtin, files, err := k.index()
	if err != nil {
		return nil, err
	}
	var out []string
	done := map[string]bool{}
	var add func(name string, depth int) error
	add = func(name string, depth int) error {
		name = modName(name)
		if done[name] || builtin[name] {
			return nil
		}
		if depth > 16 {
			return fmt.Errorf("vmimage: module %s: dependencies too deep", name)
		}
		f, ok := files[name]
		if !ok {
			return fmt.Errorf("vmimage: kernel %s has no module %s", k.Release, name)
		}
		deps, err := moduleDepends(f)
		if err != nil {
			return err
		}
		for _, d := range deps {
			if err := add(d, depth+1); err != nil {
				return err
			}
		}
		done[name] = true
		out = append(out, f)
		return nil
	}
	for _, n := range names {
		if err := add(n, 0); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// index lists the built-in modules (modules.builtin) and the module files by name.
func (k *Kernel) index() (builtin map[string]bool, files map[string]string, err error) {
	builtin, files = map[string]bool{}, map[string]string{}
	b, err := os.ReadFile(filepath.Join(k.ModDir, "modules.builtin"))
	if err != nil {
		return nil, nil, fmt.Errorf("vmimage: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		builtin[modName(filepath.Base(sc.Text()))] = true
	}
	err = filepath.WalkDir(filepath.Join(k.ModDir, "kernel"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasSuffix(p, ".ko") {
			files[modName(d.Name())] = p
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("vmimage: %w", err)
	}
	return builtin, files, nil
}

// modName is a module's name as the kernel spells it: no .ko, underscores for dashes.
func modName(s string) string {
	return strings.ReplaceAll(strings.TrimSuffix(s, ".ko"), "-", "_")
}

// moduleDepends reads the depends= entry of a module's .modinfo section.
func moduleDepends(path string) ([]string, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, fmt.Errorf("vmimage: module %s: %w", path, err)
	}
	defer f.Close()
	sec := f.Section(".modinfo")
	if sec == nil {
		return nil, fmt.Errorf("vmimage: module %s has no .modinfo", path)
	}
	b, err := sec.Data()
	if err != nil {
		return nil, fmt.Errorf("vmimage: module %s: %w", path, err)
	}
	for _, kv := range bytes.Split(b, []byte{0}) {
		if v, ok := bytes.CutPrefix(kv, []byte("depends=")); ok {
			if len(v) == 0 {
				return nil, nil
			}
			return strings.Split(string(v), ","), nil
		}
	}
	return nil, nil
}

// TSCKHz is the host's TSC frequency in kHz, which a guest under TCG must be told
// (tsc_early_khz): its TSC runs at the host's rate, and calibrating it against emulated
// timers fails. It is read from sysfs where the kernel exposes it, else from /proc/cpuinfo's
// "cpu MHz" (on virtual machines and CPUs with a constant TSC, the TSC's rate).
func TSCKHz() (int, error) {
	if b, err := os.ReadFile("/sys/devices/system/cpu/cpu0/tsc_freq_khz"); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && n > 0 {
			return n, nil
		}
	}
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return 0, fmt.Errorf("vmimage: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "cpu MHz" {
			mhz, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil || mhz <= 0 {
				return 0, fmt.Errorf("vmimage: /proc/cpuinfo: cpu MHz %q", v)
			}
			return int(mhz * 1000), nil
		}
	}
	return 0, errors.New("vmimage: the host's TSC frequency is neither in sysfs nor in /proc/cpuinfo")
}
