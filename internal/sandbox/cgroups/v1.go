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

// v1Controllers are the hierarchies a sandbox group is made in, on cgroup v1; cpuacct too
// where it is mounted apart from cpu (see v1Manager.controllers).
var v1Controllers = []string{"memory", "cpu", "pids", "freezer"}

type v1Manager struct {
	own    map[string]string // controller -> the server's own group
	prefix string
	// acct is set where cpuacct is mounted apart from cpu: a sandbox's processes then stay in
	// its cpuacct group while they run outside its cpu group, so its CPU use is counted.
	acct bool
}

// controllers are the hierarchies of the manager's groups.
func (m *v1Manager) controllers() []string {
	if m.acct {
		return append(slices.Clip(v1Controllers), "cpuacct")
	}
	return v1Controllers
}

func newV1(cfg Config, mounts []mount, own map[string]string) (*v1Manager, error) {
	m := &v1Manager{own: map[string]string{}, prefix: cfg.Prefix}
	for _, c := range v1Controllers {
		var found *mount
		for i := range mounts {
			if mounts[i].fstype == "cgroup" && slices.Contains(mounts[i].super, c) {
				found = &mounts[i]
				break
			}
		}
		if found == nil {
			return nil, fmt.Errorf("the %s controller is not mounted", c)
		}
		p, ok := own[c]
		if !ok {
			p = "/"
		}
		dir, err := hostPath(*found, p)
		if err != nil {
			return nil, err
		}
		m.own[c] = dir
		if _, err := os.Stat(dir); err != nil {
			return nil, fmt.Errorf("the server's own %s group: %w", c, err)
		}
	}
	var cpu, acct *mount
	for i := range mounts {
		if mounts[i].fstype != "cgroup" {
			continue
		}
		if slices.Contains(mounts[i].super, "cpu") {
			cpu = &mounts[i]
		}
		if slices.Contains(mounts[i].super, "cpuacct") && acct == nil {
			acct = &mounts[i]
		}
	}
	if acct != nil && acct != cpu && !slices.Contains(acct.super, "cpu") {
		p, ok := own["cpuacct"]
		if !ok {
			p = "/"
		}
		if dir, err := hostPath(*acct, p); err == nil {
			if _, err := os.Stat(dir); err == nil {
				m.own["cpuacct"], m.acct = dir, true
			}
		}
	}
	return m, nil
}

func (m *v1Manager) Version() int { return 1 }

func (m *v1Manager) Create(name string, l Limits) (Group, error) {
	if err := validName(name); err != nil {
		return nil, err
	}
	g := &v1Group{name: name, dirs: map[string]string{}, ownCPU: m.own["cpu"], held: !l.CPULazy, controllers: m.controllers()}
	for _, c := range g.controllers {
		dir := filepath.Join(m.own[c], m.prefix+"-"+name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			_ = g.Delete()
			return nil, fmt.Errorf("cgroups: create %s group: %w", c, err)
		}
		g.dirs[c] = dir
	}
	if err := g.setLimits(l); err != nil {
		_ = g.Delete()
		return nil, err
	}
	return g, nil
}

func (m *v1Manager) Prune() error {
	var errs []error
	for _, c := range m.controllers() {
		errs = append(errs, pruneGroups(m.own[c], m.prefix))
	}
	return errors.Join(errs...)
}

func (m *v1Manager) Close() error { return nil }

type v1Group struct {
	name    string
	dirs    map[string]string
	peak    counter
	usage   counter
	freezer ctlFile // freezer.state
	ownCPU  string  // the server's own cpu group, where a lazy group's processes run unheld
	// controllers are the hierarchies the group has a directory in.
	controllers []string

	cpuMu sync.Mutex
	held  bool // the group's processes are in its cpu group
}

func (g *v1Group) Name() string { return g.name }

func (g *v1Group) setLimits(l Limits) error {
	mem := g.dirs["memory"]
	if l.MemoryBytes > 0 {
		v := strconv.FormatInt(l.MemoryBytes, 10)
		if err := writeFile(mem, "memory.limit_in_bytes", v); err != nil {
			return err
		}
		// Without swap accounting the file is absent; with it, forbid swap beyond the limit.
		if _, err := os.Stat(filepath.Join(mem, "memory.memsw.limit_in_bytes")); err == nil {
			if err := writeFile(mem, "memory.memsw.limit_in_bytes", v); err != nil {
				return err
			}
		}
		_ = writeFile(mem, "memory.swappiness", "0")
	}
	if l.CPUMilli > 0 {
		if err := g.SetCPU(l.CPUMilli); err != nil {
			return err
		}
	}
	if l.Pids > 0 {
		if err := writeFile(g.dirs["pids"], "pids.max", strconv.FormatInt(l.Pids, 10)); err != nil {
			return err
		}
	}
	return nil
}

func (g *v1Group) SetCPU(milli int64) error {
	cpu := g.dirs["cpu"]
	if err := writeFile(cpu, "cpu.shares", strconv.FormatInt(v1Shares(milli), 10)); err != nil {
		return err
	}
	if err := writeFile(cpu, "cpu.cfs_period_us", strconv.Itoa(cfsPeriod)); err != nil {
		return err
	}
	quota := max(milli*cfsPeriod/1000, 1000)
	return writeFile(cpu, "cpu.cfs_quota_us", strconv.FormatInt(quota, 10))
}

func (g *v1Group) Add(pid int) error {
	g.cpuMu.Lock()
	held := g.held
	g.cpuMu.Unlock()
	for _, c := range g.controllers {
		if c == "cpu" && !held {
			continue // it runs in the server's cpu group, where it already is
		}
		if err := writeFile(g.dirs[c], "cgroup.procs", strconv.Itoa(pid)); err != nil {
			return err
		}
	}
	return nil
}

// HoldCPU moves the group's processes (as the pids hierarchy lists them) into the group's
// cpu directory, or back into the server's own cpu group, until none is left behind.
func (g *v1Group) HoldCPU(on bool) error {
	g.cpuMu.Lock()
	defer g.cpuMu.Unlock()
	if g.held == on {
		return nil
	}
	to := g.ownCPU
	if on {
		to = g.dirs["cpu"]
	}
	f, err := os.OpenFile(filepath.Join(to, "cgroup.procs"), os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("cgroups: hold cpu of %s: %w", g.name, err)
	}
	defer f.Close()
	// A process forked between reading the list and moving its parent stays where its parent
	// was: read again until every process of the group is where it should be.
	for range 100 {
		all, err := g.Procs()
		if err != nil {
			return err
		}
		in, err := readPids(g.dirs["cpu"])
		if err != nil {
			return err
		}
		moved := false
		for _, pid := range all {
			if slices.Contains(in, pid) == on {
				continue
			}
			// One that exited meanwhile cannot be moved; nothing else should fail.
			if _, err := f.WriteString(strconv.Itoa(pid)); err != nil && !errors.Is(err, syscall.ESRCH) {
				return fmt.Errorf("cgroups: hold cpu of %s: move %d: %w", g.name, pid, err)
			}
			moved = true
		}
		if !moved {
			g.held = on
			return nil
		}
	}
	return fmt.Errorf("cgroups: hold cpu of %s: processes keep appearing", g.name)
}

func (g *v1Group) CPUStat() (CPUStat, error) {
	return readCPUStat(g.dirs["cpu"], "throttled_time", time.Nanosecond)
}

func (g *v1Group) CPUUsage() (time.Duration, error) {
	dir, ok := g.dirs["cpuacct"]
	if !ok {
		return 0, ErrNoCPUUsage
	}
	ns, err := g.usage.read(dir, "cpuacct.usage")
	return time.Duration(ns), err
}

func (g *v1Group) freezerState() (string, error) {
	s, err := g.freezer.read(g.dirs["freezer"], "freezer.state", os.O_RDWR|os.O_CREATE)
	return strings.TrimSpace(s), err
}

func (g *v1Group) setFreezer(state string) error {
	// The v1 freezer can report FREEZING indefinitely if a task is caught mid-transition;
	// writing the wanted state again retries.
	return pollUntil(5*time.Second, func() (bool, error) {
		if err := g.freezer.write(g.dirs["freezer"], "freezer.state", os.O_RDWR|os.O_CREATE, state); err != nil {
			return false, err
		}
		s, err := g.freezerState()
		return s == state, err
	})
}

func (g *v1Group) Freeze() error { return opErr("freeze", g.name, g.setFreezer("FROZEN")) }

func (g *v1Group) Thaw() error { return opErr("thaw", g.name, g.setFreezer("THAWED")) }

func (g *v1Group) PeakMemory() (int64, error) {
	return g.peak.read(g.dirs["memory"], "memory.max_usage_in_bytes")
}

func (g *v1Group) ResetPeak() error {
	return writeFile(g.dirs["memory"], "memory.max_usage_in_bytes", "0")
}

func (g *v1Group) OOMKills() (int64, error) {
	return readKeyed(g.dirs["memory"], "memory.oom_control", "oom_kill")
}

func (g *v1Group) Procs() ([]int, error) {
	// The pids hierarchy sees every task of the group, like the others.
	return readPids(g.dirs["pids"])
}

func (g *v1Group) Kill(timeout time.Duration) error {
	// Freeze first so that nothing can fork between reading the list and killing it; SIGKILL
	// is delivered to frozen tasks once they are thawed.
	_ = g.setFreezer("FROZEN")
	pids, err := g.Procs()
	if err != nil {
		return err
	}
	killAll(pids)
	_ = g.freezer.write(g.dirs["freezer"], "freezer.state", os.O_RDWR|os.O_CREATE, "THAWED")
	return pollUntil(timeout, func() (bool, error) {
		pids, err := g.Procs()
		if err != nil {
			return false, err
		}
		killAll(pids)
		return len(pids) == 0, nil
	})
}

func (g *v1Group) Delete() error {
	if len(g.dirs) == 0 {
		return nil
	}
	g.peak.close()
	g.usage.close()
	var errs []error
	if _, ok := g.dirs["pids"]; ok {
		if err := g.Kill(5 * time.Second); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	g.freezer.close()
	for _, c := range g.controllers {
		if dir, ok := g.dirs[c]; ok {
			if err := rmdirWait(dir, 5*time.Second); err != nil {
				errs = append(errs, err)
				continue
			}
			delete(g.dirs, c)
		}
	}
	return errors.Join(errs...)
}
