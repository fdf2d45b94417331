package runtimes

import (
	"bufio"
	"debug/elf"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// HostPaths lists everything of the host a managed runtime's interpreter loads: the
// interpreter, its program interpreter (ld.so) and the shared libraries it needs, transitively;
// for Python also its standard library directory and the libraries of the extension modules
// there. Symbolic links are listed together with their targets. A sandbox root assembled from
// exactly these paths (plus /var/runtime, /var/task, /opt, /tmp, /dev, /proc and a generated
// /etc) runs the runtime and holds nothing else of the host. Provided runtimes list nothing:
// their bootstrap brings what it needs.
func (r Runtime) HostPaths() ([]string, error) {
	if r.Family != NodeJS && r.Family != Python {
		return nil, nil
	}
	c := &closure{seen: map[string]bool{}, libDirs: libraryDirs()}
	if err := c.addELF(r.Interpreter); err != nil {
		return nil, err
	}
	if r.Family == Python {
		if err := c.addPythonStdlib(r); err != nil {
			return nil, err
		}
	}
	return c.paths(), nil
}

// ELFClosure lists the given programs with their program interpreter (ld.so) and the shared
// libraries they need, transitively; symbolic links are listed together with their targets.
// It is what HostPaths does for an interpreter, for any host program.
func ELFClosure(programs ...string) ([]string, error) {
	c := &closure{seen: map[string]bool{}, libDirs: libraryDirs()}
	for _, p := range programs {
		if err := c.addELF(p); err != nil {
			return nil, err
		}
	}
	return c.paths(), nil
}

// closure gathers host paths; seen holds each once.
type closure struct {
	seen    map[string]bool
	libDirs []string
}

// paths is what the closure holds, sorted.
func (c *closure) paths() []string { return slices.Sorted(maps.Keys(c.seen)) }

// addPath adds p and, when p or one of its parent directories is a symbolic link, the path
// it resolves to. It returns the resolved path.
func (c *closure) addPath(p string) (string, error) {
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return "", err
	}
	c.seen[p] = true
	c.seen[real] = true
	return real, nil
}

// addELF adds an ELF file, its program interpreter and the libraries it needs.
func (c *closure) addELF(p string) error {
	if c.seen[p] {
		return nil
	}
	real, err := c.addPath(p)
	if err != nil {
		return fmt.Errorf("runtimes: %w", err)
	}
	f, err := elf.Open(real)
	if err != nil {
		return fmt.Errorf("runtimes: %s: %w", real, err)
	}
	defer f.Close()
	for _, prog := range f.Progs {
		if prog.Type != elf.PT_INTERP {
			continue
		}
		b := make([]byte, prog.Filesz)
		if _, err := prog.ReadAt(b, 0); err != nil {
			return fmt.Errorf("runtimes: %s: reading PT_INTERP: %w", real, err)
		}
		if err := c.addELF(strings.TrimRight(string(b), "\x00")); err != nil {
			return err
		}
	}
	needed, err := f.DynString(elf.DT_NEEDED)
	if err != nil {
		return nil // not dynamically linked
	}
	var rpath []string
	for _, tag := range []elf.DynTag{elf.DT_RUNPATH, elf.DT_RPATH} {
		vals, _ := f.DynString(tag)
		for _, v := range vals {
			for _, d := range strings.Split(v, ":") {
				rpath = append(rpath, strings.ReplaceAll(d, "$ORIGIN", filepath.Dir(real)))
			}
		}
	}
	for _, lib := range needed {
		found := ""
		for _, d := range append(rpath, c.libDirs...) {
			cand := filepath.Join(d, lib)
			if fi, err := os.Stat(cand); err == nil && fi.Mode().IsRegular() {
				found = cand
				break
			}
		}
		if found == "" {
			return fmt.Errorf("runtimes: %s needs %s, which is not in %s", real, lib, strings.Join(c.libDirs, ":"))
		}
		if err := c.addELF(found); err != nil {
			return err
		}
	}
	return nil
}

// addPythonStdlib adds <prefix>/lib/pythonX.Y and the libraries its extension modules need.
func (c *closure) addPythonStdlib(r Runtime) error {
	real, err := filepath.EvalSymlinks(r.Interpreter)
	if err != nil {
		return fmt.Errorf("runtimes: %w", err)
	}
	parts := strings.SplitN(r.Version, ".", 3)
	if len(parts) < 2 {
		return fmt.Errorf("runtimes: python version %q", r.Version)
	}
	stdlib := filepath.Join(filepath.Dir(filepath.Dir(real)), "lib", "python"+parts[0]+"."+parts[1])
	if _, err := c.addPath(stdlib); err != nil {
		return fmt.Errorf("runtimes: the standard library of %s: %w", r.Interpreter, err)
	}
	mods, _ := filepath.Glob(filepath.Join(stdlib, "lib-dynload", "*.so"))
	for _, m := range mods {
		if err := c.addELF(m); err != nil {
			// An extension module whose library is missing fails only when imported, as it
			// would on the host.
			continue
		}
	}
	return nil
}

// libraryDirs is where the dynamic linker looks for libraries: /etc/ld.so.conf's directories,
// then the default ones.
func libraryDirs() []string {
	var dirs []string
	readConf("/etc/ld.so.conf", &dirs, 0)
	return append(dirs, "/lib64", "/usr/lib64", "/lib", "/usr/lib")
}

func readConf(path string, dirs *[]string, depth int) {
	if depth > 4 {
		return
	}
	f, err := os.Open(path)
	if err != nil {
		return
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := strings.TrimSpace(s.Text())
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
		switch {
		case line == "":
		case strings.HasPrefix(line, "include "):
			pattern := strings.TrimSpace(strings.TrimPrefix(line, "include "))
			if !filepath.IsAbs(pattern) {
				pattern = filepath.Join(filepath.Dir(path), pattern)
			}
			matches, _ := filepath.Glob(pattern)
			sort.Strings(matches)
			for _, m := range matches {
				readConf(m, dirs, depth+1)
			}
		case filepath.IsAbs(line):
			*dirs = append(*dirs, line)
		}
	}
}

// ErrNotVisible is wrapped when a runtime needs host paths outside the directories a sandbox
// shares.
var ErrNotVisible = errors.New("runtime files not visible in the sandbox")

// CheckVisible reports, wrapping ErrNotVisible, the first of r's HostPaths that lies outside
// shared, the host directories every sandbox sees at the same place.
func (r Runtime) CheckVisible(shared []string) error {
	paths, err := r.HostPaths()
	if err != nil {
		return err
	}
	for _, p := range paths {
		ok := false
		for _, d := range shared {
			if p == d || strings.HasPrefix(p, d+"/") {
				ok = true
				break
			}
		}
		if !ok {
			return fmt.Errorf("%s needs %s: %w", r.Name, p, ErrNotVisible)
		}
	}
	return nil
}
