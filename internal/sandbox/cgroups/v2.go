package cgroups

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// v2Controllers must be available in the unified hierarchy for v2 to be chosen; the freezer
// is built into cgroup v2 (cgroup.freeze).
var v2Controllers = []string{"memory", "cpu", "pids"}

// serverLeaf is the group the processes of the server's own group move into on v2, so that
// the group may hold sandbox groups. It is shared by every server in that group, whatever
// its prefix.
const serverLeaf = "ember.server"

type v2Manager struct {
	own    string // the server's own group, where sandbox groups go
	prefix string
}

func newV2(cfg Config, mounts []mount, own map[string]string) (*v2Manager, error) {
	var found *mount
	for i := range mounts {
		if mounts[i].fstype == "cgroup2" {
			found = &mounts[i]
			break
		}
	}
	if found == nil {
		return nil, errors.New("no cgroup2 file system is mounted")
	}
	p, ok := own[""]
	if !ok {
		return nil, errors.New("this process is in no cgroup v2 group")
	}
	base, err := hostPath(*found, p)
	if err != nil {
		return nil, err
	}
	// A server that moved itself into its leaf (an earlier Detect in this process, or an
	// earlier run in a service's group) keeps its sandboxes beside the leaf, not inside it.
	if filepath.Base(base) == serverLeaf {
		base = filepath.Dir(base)
	}
	if err := checkControllers(base); err != nil {
		return nil, err
	}
	// Sandbox groups go beside the server's processes, which cgroup v2 allows in the root
	// group only ("no internal processes"). Elsewhere (a systemd service, a container) the
	// processes of the server's group move into a leaf group of their own first, as container
	// runtimes do with theirs.
	if err := enableControllers(base); err != nil {
		// (A group that looks like the root from inside a cgroup namespace is not one.)
		if err := moveIntoLeaf(base, filepath.Join(base, serverLeaf)); err != nil {
			return nil, err
		}
		if err := enableControllers(base); err != nil {
			return nil, err
		}
	}
	return &v2Manager{own: base, prefix: cfg.Prefix}, nil
}

// moveIntoLeaf moves every process of dir into the group leaf, unless dir already delegates
// the controllers to its children. Processes forked meanwhile are caught by trying again.
func moveIntoLeaf(dir, leaf string) error {
	if b, err := os.ReadFile(filepath.Join(dir, "cgroup.subtree_control")); err == nil {
		on := strings.Fields(string(b))
		if !slices.ContainsFunc(v2Controllers, func(c string) bool { return !slices.Contains(on, c) }) {
			return nil
		}
	}
	if err := os.Mkdir(leaf, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("create the server's leaf group: %w", err)
	}
	for range 5 {
		pids, err := readPids(dir)
		if err != nil {
			return err
		}
		if len(pids) == 0 {
			return nil
		}
		for _, pid := range pids {
			// A process that exited meanwhile cannot be moved; nothing else should fail.
			if err := writeFile(leaf, "cgroup.procs", strconv.Itoa(pid)); err != nil && !errors.Is(err, syscall.ESRCH) {
				return fmt.Errorf("move process %d of %s into %s: %w", pid, dir, leaf, err)
			}
		}
	}
	return fmt.Errorf("processes keep appearing in %s", dir)
}

func checkControllers(dir string) error {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.controllers"))
	if err != nil {
		return err
	}
	have := strings.Fields(string(b))
	for _, c := range v2Controllers {
		if !slices.Contains(have, c) {
			return fmt.Errorf("the %s controller is not available in %s", c, dir)
		}
	}
	return nil
}

func enableControllers(dir string) error {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.subtree_control"))
	if err != nil {
		return err
	}
	on := strings.Fields(string(b))
	var want []string
	for _, c := range v2Controllers {
		if !slices.Contains(on, c) {
			want = append(want, "+"+c)
		}
	}
	if len(want) == 0 {
		return nil
	}
	if err := writeFile(dir, "cgroup.subtree_control", strings.Join(want, " ")); err != nil {
		return fmt.Errorf("delegate controllers below %s (a group holding processes cannot): %w", dir, err)
	}
	return nil
}

func (m *v2Manager) Version() int { return 2 }

func (m *v2Manager) Create(name string, l Limits) (Group, error) {
	if err := validName(name); err != nil {
		return nil, err
	}
	dir := filepath.Join(m.own, m.prefix+"-"+name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, fmt.Errorf("cgroups: create group: %w", err)
	}
	g := &v2Group{name: name, dir: dir, held: !l.CPULazy, usage: counter{key: "usage_usec"}}
	if err := g.setLimits(l); err != nil {
		_ = g.Delete()
		return nil, err
	}
	return g, nil
}

func (m *v2Manager) Prune() error { return pruneGroups(m.own, m.prefix) }

func (m *v2Manager) Close() error { return nil }

type v2Group struct {
	name    string
	dir     string
	deleted bool
	peak    counter
	usage   counter
	freeze  ctlFile // cgroup.freeze
	events  ctlFile // cgroup.events

	cpuMu sync.Mutex
	held  bool  // cpu.max holds the group's quota, not "max"
	milli int64 // the group's CPU, for HoldCPU
}

func (g *v2Group) Name() string { return g.name }

func (g *v2Group) setLimits(l Limits) error {
	if l.MemoryBytes > 0 {
		if err := writeFile(g.dir, "memory.max", strconv.FormatInt(l.MemoryBytes, 10)); err != nil {
			return err
		}
		if _, err := os.Stat(filepath.Join(g.dir, "memory.swap.max")); err == nil {
			if err := writeFile(g.dir, "memory.swap.max", "0"); err != nil {
				return err
			}
		}
		// Kill the whole sandbox on OOM, not one process of it.
		_ = writeFile(g.dir, "memory.oom.group", "1")
	}
	if l.CPUMilli > 0 {
		if err := g.SetCPU(l.CPUMilli); err != nil {
			return err
		}
	}
	if !g.held {
		if err := writeFile(g.dir, "cpu.max", fmt.Sprintf("max %d", cfsPeriod)); err != nil {
			return err
		}
	}
	if l.Pids > 0 {
		if err := writeFile(g.dir, "pids.max", strconv.FormatInt(l.Pids, 10)); err != nil {
			return err
		}
	}
	return nil
}

func (g *v2Group) SetCPU(milli int64) error {
	g.cpuMu.Lock()
	defer g.cpuMu.Unlock()
	g.milli = milli
	// cpu.weight is 1..10000 with 100 the default for one CPU's worth.
	if err := writeFile(g.dir, "cpu.weight", strconv.FormatInt(v2Weight(milli), 10)); err != nil {
		return err
	}
	if !g.held {
		return nil
	}
	return g.writeQuota(milli)
}

func (g *v2Group) writeQuota(milli int64) error {
	quota := max(milli*cfsPeriod/1000, 1000)
	return writeFile(g.dir, "cpu.max", fmt.Sprintf("%d %d", quota, cfsPeriod))
}

// HoldCPU sets the group's quota in cpu.max, or "max" again: on cgroup v2 a process is in
// one group for every controller, so a sandbox cannot leave its CPU group and keep its
// memory group.
func (g *v2Group) HoldCPU(on bool) error {
	g.cpuMu.Lock()
	defer g.cpuMu.Unlock()
	if g.held == on {
		return nil
	}
	var err error
	if on {
		err = g.writeQuota(g.milli)
	} else {
		err = writeFile(g.dir, "cpu.max", fmt.Sprintf("max %d", cfsPeriod))
	}
	if err != nil {
		return err
	}
	g.held = on
	return nil
}

func (g *v2Group) CPUStat() (CPUStat, error) {
	return readCPUStat(g.dir, "throttled_usec", time.Microsecond)
}

func (g *v2Group) CPUUsage() (time.Duration, error) {
	us, err := g.usage.read(g.dir, "cpu.stat")
	return time.Duration(us) * time.Microsecond, err
}

func (g *v2Group) Add(pid int) error {
	return writeFile(g.dir, "cgroup.procs", strconv.Itoa(pid))
}

func (g *v2Group) setFrozen(v string) error {
	if err := g.freeze.write(g.dir, "cgroup.freeze", os.O_WRONLY|os.O_CREATE, v); err != nil {
		return err
	}
	return pollUntil(5*time.Second, func() (bool, error) {
		text, err := g.events.read(g.dir, "cgroup.events", os.O_RDONLY)
		return keyedValue(text, "frozen") == v, err
	})
}

func (g *v2Group) Freeze() error { return opErr("freeze", g.name, g.setFrozen("1")) }

func (g *v2Group) Thaw() error { return opErr("thaw", g.name, g.setFrozen("0")) }

func (g *v2Group) PeakMemory() (int64, error) {
	// Kernels before 5.19 have no memory.peak; current use is the best there is.
	return g.peak.read(g.dir, "memory.peak", "memory.current")
}

// ResetPeak does nothing: writing memory.peak (Linux 6.12+) resets it only for readers of
// the same open file.
func (g *v2Group) ResetPeak() error { return nil }

func (g *v2Group) OOMKills() (int64, error) {
	return readKeyed(g.dir, "memory.events", "oom_kill")
}

func (g *v2Group) Procs() ([]int, error) { return readPids(g.dir) }

func (g *v2Group) Kill(timeout time.Duration) error {
	if err := writeFile(g.dir, "cgroup.kill", "1"); err != nil {
		// Kernels before 5.14 have no cgroup.kill: freeze, kill, thaw.
		_ = g.setFrozen("1")
		pids, _ := g.Procs()
		killAll(pids)
		_ = writeFile(g.dir, "cgroup.freeze", "0")
	}
	return pollUntil(timeout, func() (bool, error) {
		n, err := readKeyed(g.dir, "cgroup.events", "populated")
		return n == 0, err
	})
}

func (g *v2Group) Delete() error {
	if g.deleted {
		return nil
	}
	g.peak.close()
	g.usage.close()
	var errs []error
	if err := g.Kill(5 * time.Second); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	g.freeze.close()
	g.events.close()
	if err := rmdirWait(g.dir, 5*time.Second); err != nil {
		errs = append(errs, err)
	} else {
		g.deleted = true
	}
	return errors.Join(errs...)
}
