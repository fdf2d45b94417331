package vmtest

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// PlanPath is where the guest's init finds its Plan, as JSON, in the initramfs.
const PlanPath = "/vmtest/plan.json"

// Marker starts every line the guest's init writes about its own progress on the serial
// console, between the test binaries' output.
const Marker = "vmtest: "

// Plan is what the guest's init does once the VM has booted.
type Plan struct {
	// Modules are kernel modules (paths in the initramfs) loaded in order, dependencies first.
	Modules []string `json:"modules"`
	// Disk is a block device the init formats as ext4 and mounts on /tmp, so that what the
	// tests keep in temporary directories is on a disk, as on a host. Empty keeps /tmp in
	// memory.
	Disk string `json:"disk"`
	// Env is the environment of every run.
	Env []string `json:"env"`
	// Runs are the test binaries, run one after the other.
	Runs []Run `json:"runs"`
}

// Run is one test binary run in the guest.
type Run struct {
	Name string   `json:"name"`
	Path string   `json:"path"`
	Args []string `json:"args"`
	// Dir is the working directory, made if missing (go test runs a binary in its package's
	// directory).
	Dir string `json:"dir"`
	// Group, when set, is a cgroup (a path below /sys/fs/cgroup) made for this run alone, as
	// systemd makes one for a service with Delegate=yes: the memory, cpu and pids controllers
	// are enabled in its ancestors' cgroup.subtree_control and in none of its own, the binary
	// starts in it, and once the binary has exited the groups left in it are reported (Left)
	// and the group is removed with everything below it. Empty runs the binary in the root
	// group, beside the init.
	Group string `json:"group"`
	// Namespace starts the binary in a cgroup namespace of its own, rooted at Group, and a
	// mount namespace where cgroup2 is mounted afresh on /sys/fs/cgroup, as a container
	// runtime starts a container with a private cgroup namespace.
	Namespace bool `json:"namespace"`
}

// Result is what one run printed and how it exited.
type Result struct {
	Name string
	// Exit is the binary's exit code, or -1 when it never reported one.
	Exit int
	// Output is everything the run printed (with the kernel's console messages of that time).
	Output string
	// Passed, Failed and Skipped name the top-level tests by their outcome.
	Passed, Failed, Skipped []string
	// Left are the groups the run left in its Run.Group, as paths relative to it, before the
	// init removed them (nil for a run in the root group).
	Left []string
	// Cgroup is the binary's own group as it saw it when it started (its /proc/self/cgroup),
	// reported for a run in a namespace only.
	Cgroup string
}

// Report is what the guest printed, parsed.
type Report struct {
	// Done is set when the init got through the whole plan.
	Done bool
	// Errors are the init's own failures (the plan could not be carried out).
	Errors []string
	// Facts are the init's other lines: kernel release, cgroup controllers, ...
	Facts   []string
	Results []*Result
}

// Result returns the run of that name, or nil.
func (r *Report) Result(name string) *Result {
	for _, res := range r.Results {
		if res.Name == name {
			return res
		}
	}
	return nil
}

// Lines the init writes, after Marker.
const (
	runLine    = "run "    // run NAME
	exitLine   = "exit "   // exit NAME CODE
	errorLine  = "error "  // error MESSAGE
	leftLine   = "left "   // left NAME GROUP...
	cgroupLine = "cgroup " // cgroup LINE-OF-/proc/self/cgroup, during a run
	doneLine   = "done"
)

// RunLine, ExitLine, ErrorLine and DoneLine format the init's lines.
func RunLine(name string) string { return Marker + runLine + name }
func ExitLine(name string, code int) string {
	return fmt.Sprintf("%s%s%s %d", Marker, exitLine, name, code)
}
func ErrorLine(err error) string { return Marker + errorLine + err.Error() }
func DoneLine() string           { return Marker + doneLine }

// CgroupLine formats a run's line on its own group, as it sees it.
func CgroupLine(own string) string { return Marker + cgroupLine + own }

// LeftLine formats the init's line on the groups a run left in its group.
func LeftLine(name string, groups []string) string {
	return Marker + leftLine + strings.Join(append([]string{name}, groups...), " ")
}

// ParseReport reads the serial console's output.
func ParseReport(r io.Reader) (*Report, error) {
	rep := &Report{}
	var cur *Result
	var out strings.Builder
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if rest, ok := strings.CutPrefix(line, Marker); ok {
			switch {
			case strings.HasPrefix(rest, runLine):
				cur = &Result{Name: strings.TrimPrefix(rest, runLine), Exit: -1}
				rep.Results = append(rep.Results, cur)
				out.Reset()
				continue
			case strings.HasPrefix(rest, exitLine):
				f := strings.Fields(strings.TrimPrefix(rest, exitLine))
				if cur != nil && len(f) == 2 && f[0] == cur.Name {
					cur.Exit, _ = strconv.Atoi(f[1])
					cur.Output = out.String()
					cur = nil
				}
				continue
			case strings.HasPrefix(rest, leftLine):
				f := strings.Fields(strings.TrimPrefix(rest, leftLine))
				if len(f) > 0 && rep.Result(f[0]) != nil {
					rep.Result(f[0]).Left = append([]string{}, f[1:]...)
				}
				continue
			case strings.HasPrefix(rest, cgroupLine) && cur != nil:
				cur.Cgroup = strings.TrimPrefix(rest, cgroupLine)
				continue
			case strings.HasPrefix(rest, errorLine):
				rep.Errors = append(rep.Errors, strings.TrimPrefix(rest, errorLine))
				continue
			case rest == doneLine:
				rep.Done = true
				continue
			case cur == nil:
				rep.Facts = append(rep.Facts, rest)
				continue
			}
		}
		if cur == nil {
			continue
		}
		out.WriteString(line + "\n")
		for prefix, list := range map[string]*[]string{"--- PASS: ": &cur.Passed, "--- FAIL: ": &cur.Failed, "--- SKIP: ": &cur.Skipped} {
			if name, ok := strings.CutPrefix(line, prefix); ok && len(strings.Fields(name)) > 0 {
				*list = append(*list, strings.Fields(name)[0])
			}
		}
	}
	if cur != nil {
		cur.Output = out.String()
	}
	return rep, sc.Err()
}
