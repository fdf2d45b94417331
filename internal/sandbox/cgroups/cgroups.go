package cgroups

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ErrUnavailable is returned by Detect when neither cgroup v2 nor cgroup v1 offers the
// controllers a sandbox needs (memory, cpu, pids and a freezer).
var ErrUnavailable = errors.New("no usable cgroup hierarchy")

// LambdaMBPerVCPU is how much memory buys one full vCPU, as on AWS Lambda.
const LambdaMBPerVCPU = 1769

// DefaultPids is Lambda's limit on processes and threads per execution environment.
const DefaultPids = 1024

// cfsPeriod is the CPU bandwidth period used for the quota, in microseconds.
const cfsPeriod = 100000

// Limits are the resource limits of one group.
type Limits struct {
	// MemoryBytes is the hard memory limit; swap is not allowed on top of it. Zero means none.
	MemoryBytes int64
	// CPUMilli is the CPU bandwidth in thousandths of a CPU (1000 = one vCPU). Zero means
	// unlimited bandwidth.
	CPUMilli int64
	// Pids bounds the number of processes and threads. Zero means none.
	Pids int64
	// CPULazy leaves the group's processes outside its CPU limit until HoldCPU(true): on
	// cgroup v1 they stay in the server's own cpu group (the sandbox is no scheduling entity
	// of its own), on v2, where a process has one group for every controller, the group's
	// cpu.max stays "max" (its weight is set). See Group.HoldCPU.
	CPULazy bool
}

// ForFunction returns Lambda's limits for a function with the given MemorySize: memory equal
// to it, CPU proportional to it (1,769 MB is one vCPU) and 1,024 pids.
func ForFunction(memoryMB int) Limits {
	milli := int64(memoryMB) * 1000 / LambdaMBPerVCPU
	if milli < 10 {
		milli = 10
	}
	return Limits{
		MemoryBytes: int64(memoryMB) << 20,
		CPUMilli:    milli,
		Pids:        DefaultPids,
	}
}

// Manager creates sandbox groups directly in the server's own group, named Config.Prefix, a
// dash and the sandbox's name: siblings of the server, not children of a common parent.
//
// The layout is for the CPU scheduler's sake. Runtimes gathered under one parent group each
// compete inside it, and the parent competes with the server as one entity; measured on 2-vCPU
// machines, that cost a large part of the warm throughput at 16 concurrent invokes (more
// context switches and more scheduler work per invoke for every process, the server's and the
// client's included) against runtimes outside any CPU group. Sandbox groups beside the server
// did as well as no groups. See docs/invoke-path.md; the figures are in bench/README.md.
type Manager interface {
	// Version is 1 or 2.
	Version() int
	// Create makes a new group with the given limits. The name must be a single path element,
	// unique among the manager's groups.
	Create(name string, l Limits) (Group, error)
	// Prune removes the manager's empty groups: what a previous run of the server left behind
	// when it died (its sandboxes died with it, by their parent-death signal). Groups that
	// still hold processes may belong to another server with the same prefix and are left
	// alone.
	Prune() error
	// Close releases the manager. Groups stay until deleted.
	Close() error
}

// Group is one cgroup (or, on v1, one directory per controller hierarchy).
type Group interface {
	// Name is the name given to Create.
	Name() string
	// SetCPU changes the group's CPU bandwidth (and its share under contention), in
	// thousandths of a CPU.
	SetCPU(milli int64) error
	// HoldCPU puts every process of a group made with Limits.CPULazy under the group's CPU
	// limit (true), or lets them run outside it again (false). Processes forked while it runs
	// are caught: a child inherits its parent's group at fork. Groups made without CPULazy
	// are always held, and HoldCPU does nothing.
	HoldCPU(on bool) error
	// CPUStat is the group's CPU bandwidth accounting: how often and how long its
	// processes were throttled by its limit.
	CPUStat() (CPUStat, error)
	// CPUUsage is the CPU time the group's processes have used since it was created,
	// counted whether or not they are held to its CPU limit. It fails with ErrNoCPUUsage
	// where the host cannot count it so: on cgroup v1 with cpuacct mounted together with cpu,
	// a lazy group's processes are outside its accounting until held.
	CPUUsage() (time.Duration, error)
	// Add moves a process into the group.
	Add(pid int) error
	// Freeze stops every process in the group and returns once they are all stopped.
	Freeze() error
	// Thaw resumes a frozen group.
	Thaw() error
	// PeakMemory is the highest memory use of the group since it was created (or since
	// ResetPeak), in bytes.
	PeakMemory() (int64, error)
	// ResetPeak starts the peak over from current use, where the kernel allows it (cgroup
	// v1); on v2 it does nothing.
	ResetPeak() error
	// OOMKills counts processes the kernel killed in the group for exceeding its memory limit.
	OOMKills() (int64, error)
	// Procs lists the processes in the group, as host pids.
	Procs() ([]int, error)
	// Kill sends SIGKILL to every process in the group, including frozen ones, and waits until
	// the group is empty or the timeout passes.
	Kill(timeout time.Duration) error
	// Delete removes the group; it kills what is still inside first.
	Delete() error
}

// CPUStat is what the kernel counts of a group's CPU bandwidth (v1 and v2 cpu.stat).
type CPUStat struct {
	// Periods is the number of enforcement periods in which the group's processes ran,
	// Throttled the number of those in which they hit the limit.
	Periods, Throttled int64
	// ThrottledTime is how long they were held back in all.
	ThrottledTime time.Duration
}

// Config says how groups are named.
type Config struct {
	// Prefix starts the name of every group, before a dash and the sandbox's name, so that
	// servers sharing a cgroup keep to their own groups. Defaults to "ember".
	Prefix string
	// Version forces 1 or 2; zero detects.
	Version int
}

func (c *Config) defaults() {
	if c.Prefix == "" {
		c.Prefix = "ember"
	}
}

// Validate checks a Config.
func (c Config) Validate() error {
	if c.Prefix != "" && (validName(c.Prefix) != nil || strings.HasPrefix(c.Prefix, ".")) {
		return fmt.Errorf("cgroups: prefix %q must be one path element", c.Prefix)
	}
	if c.Version != 0 && c.Version != 1 && c.Version != 2 {
		return fmt.Errorf("cgroups: version %d is neither 1 nor 2", c.Version)
	}
	return nil
}

// Detect chooses cgroup v2 when the unified hierarchy has the memory, cpu and pids
// controllers available to this process, otherwise cgroup v1 when the memory, cpu, pids and
// freezer hierarchies are mounted, and fails with ErrUnavailable otherwise.
func Detect(cfg Config) (Manager, error) {
	cfg.defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	mounts, err := readMountinfo("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("cgroups: %w", err)
	}
	own, err := readProcCgroup("/proc/self/cgroup")
	if err != nil {
		return nil, fmt.Errorf("cgroups: %w", err)
	}
	var errs []error
	if cfg.Version != 1 {
		m, err := newV2(cfg, mounts, own)
		if err == nil {
			return m, nil
		}
		errs = append(errs, fmt.Errorf("v2: %w", err))
	}
	if cfg.Version != 2 {
		m, err := newV1(cfg, mounts, own)
		if err == nil {
			return m, nil
		}
		errs = append(errs, fmt.Errorf("v1: %w", err))
	}
	return nil, fmt.Errorf("%w (%v); sandboxes need the memory, cpu, pids and freezer controllers of cgroup v1 or v2, and the server must run as root", ErrUnavailable, errors.Join(errs...))
}

func validName(name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsRune(name, '/') {
		return fmt.Errorf("cgroups: invalid group name %q", name)
	}
	return nil
}

// opErr says which operation on which group failed; nil stays nil.
func opErr(op, group string, err error) error {
	if err != nil {
		return fmt.Errorf("cgroups: %s %s: %w", op, group, err)
	}
	return nil
}

func writeFile(dir, file, value string) error {
	if err := os.WriteFile(filepath.Join(dir, file), []byte(value), 0); err != nil {
		return fmt.Errorf("cgroups: write %s: %w", file, err)
	}
	return nil
}

// ctlFile is a control file of a group kept open, so that writing it or reading it again
// costs one system call rather than an open, a write or read, and a close: the freezer's,
// written and read on every freeze and thaw of a sandbox, which is every idle pause.
type ctlFile struct {
	mu  sync.Mutex
	f   *os.File
	buf [256]byte
}

func (c *ctlFile) fileLocked(dir, file string, flag int) (*os.File, error) {
	if c.f == nil {
		f, err := os.OpenFile(filepath.Join(dir, file), flag, 0o644)
		if err != nil {
			return nil, fmt.Errorf("cgroups: %w", err)
		}
		c.f = f
	}
	return c.f, nil
}

// write writes value to the file (opened with flag on first use) from its start. Flags
// with os.O_CREATE let the tests' stand-in directories start without the file; a group's
// own always has it.
func (c *ctlFile) write(dir, file string, flag int, value string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	f, err := c.fileLocked(dir, file, flag)
	if err != nil {
		return err
	}
	if _, err := f.WriteAt([]byte(value), 0); err != nil {
		return fmt.Errorf("cgroups: write %s: %w", file, err)
	}
	return nil
}

// read reads the file (opened with flag on first use) from its start, up to 256 bytes.
func (c *ctlFile) read(dir, file string, flag int) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f, err := c.fileLocked(dir, file, flag)
	if err != nil {
		return "", err
	}
	n, err := f.ReadAt(c.buf[:], 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("cgroups: read %s: %w", file, err)
	}
	return string(c.buf[:n]), nil
}

// close closes the file; a later use opens it again.
func (c *ctlFile) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.f != nil {
		c.f.Close()
		c.f = nil
	}
}

// keyedValue is the value of the "key value" line of a flat-keyed file's text, or "".
func keyedValue(text, key string) string {
	for line := range strings.SplitSeq(text, "\n") {
		if v, ok := strings.CutPrefix(line, key+" "); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// readKeyed reads one "key value" line of a flat-keyed cgroup file (memory.events,
// memory.oom_control); a missing key reads as zero.
func readKeyed(dir, file, key string) (int64, error) {
	b, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		return 0, fmt.Errorf("cgroups: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && f[0] == key {
			return strconv.ParseInt(f[1], 10, 64)
		}
	}
	return 0, nil
}

// readCPUStat reads a cpu.stat file: nr_periods, nr_throttled, and the throttled time in
// the key and unit given (v1 "throttled_time" in ns, v2 "throttled_usec").
func readCPUStat(dir, timeKey string, unit time.Duration) (CPUStat, error) {
	b, err := os.ReadFile(filepath.Join(dir, "cpu.stat"))
	if err != nil {
		return CPUStat{}, fmt.Errorf("cgroups: %w", err)
	}
	var st CPUStat
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) != 2 {
			continue
		}
		n, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "nr_periods":
			st.Periods = n
		case "nr_throttled":
			st.Throttled = n
		case timeKey:
			st.ThrottledTime = time.Duration(n) * unit
		}
	}
	return st, nil
}

func readPids(dir string) ([]int, error) {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return nil, fmt.Errorf("cgroups: %w", err)
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		if p, err := strconv.Atoi(f); err == nil {
			pids = append(pids, p)
		}
	}
	return pids, nil
}

func killAll(pids []int) {
	for _, p := range pids {
		_ = syscall.Kill(p, syscall.SIGKILL)
	}
}

// rmdirWait removes a cgroup directory, retrying while the kernel still reports it busy
// (tasks that were just killed leave it asynchronously).
func rmdirWait(dir string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		err := syscall.Rmdir(dir)
		if err == nil || errors.Is(err, syscall.ENOENT) {
			return nil
		}
		if !errors.Is(err, syscall.EBUSY) || time.Now().After(deadline) {
			return fmt.Errorf("cgroups: remove %s: %w", dir, err)
		}
		time.Sleep(time.Millisecond)
	}
}

// pollUntil calls f until it reports true, an error, or the timeout passes.
func pollUntil(timeout time.Duration, f func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for step := 100 * time.Microsecond; ; {
		ok, err := f()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("timed out")
		}
		time.Sleep(step)
		if step < 5*time.Millisecond {
			step *= 2
		}
	}
}

// pruneGroups removes the empty groups in dir whose names start with prefix and a dash.
func pruneGroups(dir, prefix string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("cgroups: %w", err)
	}
	var errs []error
	for _, e := range ents {
		if e.IsDir() && strings.HasPrefix(e.Name(), prefix+"-") {
			errs = append(errs, removeIfEmpty(filepath.Join(dir, e.Name())))
		}
	}
	return errors.Join(errs...)
}

// removeIfEmpty removes a group directory unless processes are in it.
func removeIfEmpty(dir string) error {
	pids, err := readPids(dir)
	if err != nil || len(pids) > 0 {
		return nil
	}
	if err := syscall.Rmdir(dir); err != nil && !errors.Is(err, syscall.EBUSY) && !errors.Is(err, syscall.ENOENT) {
		return fmt.Errorf("cgroups: remove %s: %w", dir, err)
	}
	return nil
}

// counter is one number a group's file holds, read often (a sandbox's peak memory, for every
// REPORT line): the file is opened once and read again from its start, which costs a tenth
// of opening it each time.
type counter struct {
	mu  sync.Mutex
	f   *os.File
	buf [64]byte
	// key, when set, names the first line's key ("usage_usec 123" in cpu.stat): the number
	// is that line's value.
	key string
}

// ErrNoCPUUsage is returned by Group.CPUUsage where the host does not count a group's CPU
// use apart from its limit.
var ErrNoCPUUsage = errors.New("cgroups: a group's CPU use is not counted on this host")

// read reads the number in the first of files in dir that exists, opening it on first use.
func (c *counter) read(dir string, files ...string) (int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.f == nil {
		var err error
		for _, file := range files {
			if c.f, err = os.Open(filepath.Join(dir, file)); !errors.Is(err, os.ErrNotExist) {
				break
			}
		}
		if err != nil {
			c.f = nil
			return 0, fmt.Errorf("cgroups: %w", err)
		}
	}
	n, err := c.f.ReadAt(c.buf[:], 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return 0, fmt.Errorf("cgroups: %w", err)
	}
	text := string(c.buf[:n])
	if c.key != "" {
		line, _, _ := strings.Cut(text, "\n")
		var ok bool
		if text, ok = strings.CutPrefix(line, c.key+" "); !ok {
			return 0, fmt.Errorf("cgroups: %s: no %s on its first line", c.f.Name(), c.key)
		}
	}
	v, err := strconv.ParseInt(strings.TrimSpace(text), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("cgroups: %s: %w", c.f.Name(), err)
	}
	return v, nil
}

// close closes the file; a later read opens it again.
func (c *counter) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.f != nil {
		c.f.Close()
		c.f = nil
	}
}
