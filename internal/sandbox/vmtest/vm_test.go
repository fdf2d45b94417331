//go:build linux && amd64

package vmtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ember-serverless/ember/internal/gobuild"
	"github.com/ember-serverless/ember/internal/runtimes"
	"github.com/ember-serverless/ember/internal/sandbox/sandboxtest"
	"github.com/ember-serverless/ember/internal/sandbox/vmimage"
	"github.com/ember-serverless/ember/internal/testenv"
)

// guestPath is the guest's PATH, where the tests look for host tools.
const guestPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// hostTools are the host programs the VM gets, with the libraries they load: what the tests'
// bootstrap scripts and the jail (mkfs.ext4, for a disk-backed /tmp) run. A test that needs
// another program adds it here. Missing ones are left out.
var hostTools = []string{
	"sh", "dash", "bash", "cat", "ls", "id", "hostname", "grep", "touch", "sleep", "true", "false",
	"echo", "env", "stat", "wc", "dd", "rm", "mkdir", "rmdir", "cp", "mv", "ln", "head", "tail",
	"tr", "cut", "sed", "sort", "df", "du", "uname", "readlink", "chmod", "kill", "seq", "tee",
	"printf", "test", "timeout", "sync", "mkfs.ext4", "mke2fs",
}

// pythonTests need Python 3.11 at /usr/bin, which the VM gets when the host has it.
var pythonTests = []string{
	"TestAManagedRuntimeSeesItsInterpreterAndNothingElseOfTheHost",
	"TestAJailStartsExtensionsThatTheWorkerCanDialIntoAtSandboxLocaldomain",
}

// suite is one package's tests as the VM runs them.
type suite struct {
	pkg string // relative to the module root
	// mustPass are tests whose passing is the point of the VM.
	mustPass []string
	// maySkip are tests allowed to skip in the VM, with the reason. Any other skip fails: a
	// test that skips in the VM tests nothing on cgroup v2.
	maySkip map[string]string
}

var suites = []suite{
	{
		pkg:      "internal/sandbox/cgroups",
		mustPass: []string{"TestDetectChoosesTheExpectedVersion", "TestAGroupFreezesThawsKillsAndIsDeleted", "TestAProcessOverTheMemoryLimitIsOOMKilled"},
	},
	{
		pkg:      "internal/sandbox/jail",
		mustPass: []string{"TestTheJailUsesTheExpectedCgroupVersion", "TestJailPassesTheBackendConformanceSuite", "TestJailContainsAHostileFunction"},
		maySkip: map[string]string{
			"TestANoisyNeighbourDoesNotStarveAQuietFunction":             "it compares latencies (-test.short), which under TCG mean nothing",
			"TestACPUBoundFunctionGetsItsMemorysShareOfACPUInEitherMode": "it measures CPU shares over seconds of spinning (-test.short), which under TCG take minutes and mean nothing",
			"TestABurstModeSandboxIsReleasedWhenItsInvocationEnds":       "it checks v1's move out of the cpu group; on cgroup v2 a burst-mode sandbox stays in its group under no quota until held",
		},
	},
}

// placement is where in the cgroup hierarchy the VM starts every suite's test binary, as a
// server would be started on one kind of host.
type placement struct {
	name string
	// group and namespace are those of the runs (Run.Group, Run.Namespace).
	group     string
	namespace bool
}

// placements are run in this order, in one boot. The root comes first: the init leaves the
// hierarchy untouched until then.
var placements = []placement{
	// A host without systemd: the root group, no controller enabled in it.
	{name: "root"},
	// A systemd service with Delegate=yes.
	{name: "service", group: "system.slice/ember.service"},
	// A container with a cgroup namespace of its own (and its own cgroup2 mount) in a
	// delegated group, as Docker and Podman make one with --cgroupns=private.
	{name: "container", group: "system.slice/ember.service", namespace: true},
}

// runName names a suite's run in one placement.
func runName(s suite, p placement) string { return filepath.Base(s.pkg) + "/" + p.name }

// TestTheSandboxTestsPassOnCgroupV2InAVM boots Debian's cloud kernel under QEMU with cgroup2
// on /sys/fs/cgroup and runs the cgroups and jail packages' tests there; see the package doc.
func TestTheSandboxTestsPassOnCgroupV2InAVM(t *testing.T) {
	if _, err := exec.LookPath(QEMU); err != nil {
		testenv.Need(t, "needs %s (Debian package qemu-system-x86; scripts/setup installs it): %v", QEMU, err)
	}
	kernel, err := vmimage.FindKernel(kernelDir())
	if errors.Is(err, vmimage.ErrNoKernel) {
		testenv.Need(t, "needs a kernel to boot: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	initrd := filepath.Join(dir, "initramfs.cpio")
	start := time.Now()
	python := buildInitramfs(t, kernel, initrd)
	t.Logf("built the initramfs in %v", time.Since(start).Round(time.Millisecond))

	// A sparse disk for the guest's /tmp: the jail keeps sandboxes' /tmp on disk, not in memory.
	disk := filepath.Join(dir, "disk.img")
	if err := os.WriteFile(disk, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(disk, 4<<30); err != nil {
		t.Fatal(err)
	}

	budget := 25 * time.Minute
	if d, ok := t.Deadline(); ok {
		budget = min(budget, time.Until(d)-30*time.Second)
	}
	ctx, cancel := context.WithTimeout(context.Background(), budget)
	defer cancel()
	var console bytes.Buffer
	vm := VM{Kernel: kernel, Initramfs: initrd, Disk: disk, MemoryMB: 3072, CPUs: 2}
	start = time.Now()
	runErr := vm.Run(ctx, &console)
	t.Logf("the VM ran for %v", time.Since(start).Round(time.Second))
	rep, err := ParseReport(bytes.NewReader(console.Bytes()))
	if err != nil {
		t.Fatalf("reading the console: %v", err)
	}
	for _, f := range rep.Facts {
		t.Logf("guest: %s", f)
	}
	if runErr != nil || len(rep.Errors) > 0 || !rep.Done {
		t.Fatalf("the VM did not carry out its plan (%v; init errors %q; done %v); console:\n%s", runErr, rep.Errors, rep.Done, console.String())
	}
	if !slices.Contains(rep.Facts, "/proc/self/cgroup: 0::/") {
		t.Errorf("the guest's init is not in the root group of a cgroup v2 hierarchy: %q", rep.Facts)
	}
	for _, p := range placements {
		for _, s := range suites {
			checkSuite(t, s, p, rep.Result(runName(s, p)), python)
		}
	}
}

// checkSuite fails the test for every way one package's run in the VM went wrong.
func checkSuite(t *testing.T, s suite, p placement, res *Result, python bool) {
	t.Helper()
	name := runName(s, p)
	if res == nil {
		t.Errorf("%s: the VM did not run it", name)
		return
	}
	t.Logf("%s in the VM: exit %d, %d passed, %d failed, %d skipped %v", name, res.Exit, len(res.Passed), len(res.Failed), len(res.Skipped), res.Skipped)
	bad := false
	if p.group != "" {
		// The binary started in the group, which could not delegate controllers while it held
		// the binary: Detect must have moved it into a leaf group beside its sandboxes'.
		t.Logf("%s left in %s: %q", name, p.group, res.Left)
		if !slices.Contains(res.Left, "ember.server") {
			t.Errorf("%s: no server leaf group was left in %s (%q), so its sandbox groups were made elsewhere", name, p.group, res.Left)
			bad = true
		}
		// Every Detect after the first finds the binary in its leaf already and keeps its
		// sandboxes beside it, not a level further down.
		if slices.ContainsFunc(res.Left, func(g string) bool { return strings.Contains(g, "ember.server/") }) {
			t.Errorf("%s: groups were made inside the server's leaf group: %q", name, res.Left)
			bad = true
		}
	}
	if p.namespace {
		t.Logf("%s saw itself in %q", name, res.Cgroup)
	}
	if p.namespace && res.Cgroup != "0::/" {
		t.Errorf("%s: the binary saw itself in %q, not in the root of its cgroup namespace", name, res.Cgroup)
		bad = true
	}
	if res.Exit != 0 || len(res.Failed) > 0 {
		t.Errorf("%s failed in the VM (exit %d): %v", name, res.Exit, res.Failed)
		bad = true
	}
	for _, sk := range res.Skipped {
		if why, ok := s.maySkip[sk]; ok {
			t.Logf("%s: %s skipped in the VM, as it may: %s", name, sk, why)
			continue
		}
		if !python && slices.Contains(pythonTests, sk) {
			continue
		}
		t.Errorf("%s: %s skipped in the VM, so cgroup v2 went untested there", name, sk)
		bad = true
	}
	for _, p := range s.mustPass {
		if !slices.Contains(res.Passed, p) {
			t.Errorf("%s: %s did not pass in the VM", name, p)
			bad = true
		}
	}
	if bad {
		t.Logf("%s's output in the VM:\n%s", name, res.Output)
	}
}

// buildInitramfs writes the guest's initramfs: its init, the test binaries and the test
// function, the kernel modules, the host tools, and Python when the host has it (reported).
func buildInitramfs(t *testing.T, kernel *vmimage.Kernel, out string) (python bool) {
	t.Helper()
	bin := t.TempDir()
	r := vmimage.NewInitramfs()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}

	if err := gobuild.Static(filepath.Join(bin, "init"), "internal/sandbox/vmtest/guestinit"); err != nil {
		t.Fatal(err)
	}
	must(r.File("/init", filepath.Join(bin, "init"), 0o755))
	plan := Plan{
		Disk: "/dev/vda",
		Env: []string{
			"PATH=" + guestPath, "HOME=/root", "TMPDIR=/tmp",
			sandboxtest.RuntimeEnv + "=/vmtest/bootstrap",
			"EMBER_EXPECT_CGROUP=v2",
			testenv.TimeScaleEnv + "=4", // the guest's CPU is emulated (TCG)
		},
	}
	for _, s := range suites {
		name := filepath.Base(s.pkg)
		exe := filepath.Join(bin, name+".test")
		if err := gobuild.StaticTest(exe, s.pkg); err != nil {
			t.Fatal(err)
		}
		must(r.File("/vmtest/"+name+".test", exe, 0o755))
	}
	for _, p := range placements {
		for _, s := range suites {
			plan.Runs = append(plan.Runs, Run{
				Name: runName(s, p),
				Path: "/vmtest/" + filepath.Base(s.pkg) + ".test",
				// -short: no latency comparisons, which mean nothing under emulation.
				Args:      []string{"-test.v", "-test.short", "-test.count=1", "-test.timeout=10m"},
				Dir:       "/vmtest/src/" + s.pkg,
				Group:     p.group,
				Namespace: p.namespace,
			})
		}
	}
	must(r.File("/vmtest/bootstrap", filepath.Join(sandboxtest.BuildRuntime(t), "bootstrap"), 0o755))

	// loop: the jail's disk-backed /tmp; virtio_blk and virtio_mmio: the guest's own disk;
	// overlay: a function's layers. ext4 is built in.
	mods, err := kernel.Modules("loop", "overlay", "virtio_mmio", "virtio_blk")
	must(err)
	for i, m := range mods {
		p := fmt.Sprintf("/vmtest/modules/%02d-%s", i, filepath.Base(m))
		must(r.File(p, m, 0o644))
		plan.Modules = append(plan.Modules, p)
	}

	var programs []string
	for _, tool := range hostTools {
		p, err := lookPath(tool)
		if err != nil {
			t.Logf("the VM goes without %s: %v", tool, err)
			continue
		}
		programs = append(programs, p)
	}
	must(r.Programs(append(programs, "/bin/sh")...))
	if rt, err := runtimes.Detect(context.Background(), nil).Lookup("python3.11"); err == nil {
		py, err := rt.HostPaths()
		must(err)
		for _, p := range append(py, "/usr/bin/python3") {
			must(r.HostPath(p))
		}
		python = true
	} else {
		t.Logf("the VM goes without Python, and its tests skip: %v", err)
	}
	// The dynamic linker's configuration, which the jail also shares into sandboxes.
	for _, p := range []string{"/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/mke2fs.conf"} {
		if _, err := os.Lstat(p); err == nil {
			must(r.HostPath(p))
		}
	}
	// Secrets any user of the VM could read: the escape suite's hostile function goes for them.
	for _, p := range []string{"/etc/shadow", "/etc/machine-id", "/root/.bash_history", "/var/log/dpkg.log"} {
		must(r.Bytes(p, []byte("vmtest secret\n"), 0o644))
	}
	must(r.Dir("/root", 0o700))
	must(r.Dir("/tmp", 0o1777|os.ModeSticky))

	b, err := json.Marshal(plan)
	must(err)
	must(r.Bytes(PlanPath, b, 0o644))
	must(r.WriteFile(out))
	return python
}

// lookPath finds a program on the guest's PATH, on the host.
func lookPath(name string) (string, error) {
	for _, d := range filepath.SplitList(guestPath) {
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("not in %s", guestPath)
}

// The allowances name tests that exist: a renamed test must be renamed here too.
func TestTheSuitesNameTestsThatExist(t *testing.T) {
	for _, s := range suites {
		src, _ := filepath.Glob(filepath.Join(gobuild.ModuleRoot(), s.pkg, "*_test.go"))
		var all strings.Builder
		for _, f := range src {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			all.Write(b)
		}
		names := append(slices.Clone(s.mustPass), slices.Collect(maps.Keys(s.maySkip))...)
		if s.pkg == "internal/sandbox/jail" {
			names = append(names, pythonTests...)
		}
		for _, n := range names {
			if !strings.Contains(all.String(), "func "+n+"(t *testing.T)") {
				t.Errorf("%s has no test %s", s.pkg, n)
			}
		}
	}
}
