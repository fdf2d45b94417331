package vmtest

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestTheReportIsReadFromTheConsole(t *testing.T) {
	console := strings.Join([]string{
		"[    0.41] PCI: Fatal: No config space access function found",
		Marker + "kernel 6.1.0-56-cloud-amd64",
		RunLine("cgroups"),
		"=== RUN   TestA",
		"--- PASS: TestA (0.01s)",
		"=== RUN   TestB",
		"    b_test.go:1: not here",
		"--- SKIP: TestB (0.00s)",
		"    --- FAIL: TestB/sub (0.00s)", // a subtest: not counted
		"PASS",
		ExitLine("cgroups", 0),
		RunLine("jail"),
		"--- FAIL: TestC (1.00s)",
		"[   10.77] Memory cgroup out of memory: Killed process 175 (bootstrap)",
		ExitLine("jail", 1),
		ErrorLine(errors.New("power off: no")),
		DoneLine(),
	}, "\r\n")
	rep, err := ParseReport(strings.NewReader(console))
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Done || !slices.Equal(rep.Errors, []string{"power off: no"}) || !slices.Equal(rep.Facts, []string{"kernel 6.1.0-56-cloud-amd64"}) {
		t.Errorf("report = %+v", rep)
	}
	c, j := rep.Result("cgroups"), rep.Result("jail")
	if c == nil || j == nil || rep.Result("other") != nil {
		t.Fatalf("results = %+v", rep.Results)
	}
	if c.Exit != 0 || !slices.Equal(c.Passed, []string{"TestA"}) || !slices.Equal(c.Skipped, []string{"TestB"}) || len(c.Failed) != 0 {
		t.Errorf("cgroups = %+v", c)
	}
	if j.Exit != 1 || !slices.Equal(j.Failed, []string{"TestC"}) || !strings.Contains(j.Output, "Killed process 175") {
		t.Errorf("jail = %+v", j)
	}
}

func TestARunThatNeverEndsHasNoExitCode(t *testing.T) {
	rep, err := ParseReport(strings.NewReader(RunLine("jail") + "\n=== RUN   TestA\n[  99.0] Kernel panic\n"))
	if err != nil {
		t.Fatal(err)
	}
	if j := rep.Result("jail"); rep.Done || j == nil || j.Exit != -1 || !strings.Contains(j.Output, "Kernel panic") {
		t.Errorf("report = %+v, jail = %+v", rep, j)
	}
}

func TestARunInAGroupReportsItsOwnGroupAndWhatItLeft(t *testing.T) {
	console := strings.Join([]string{
		RunLine("cgroups/container"),
		CgroupLine("0::/"),
		"--- PASS: TestA (0.01s)",
		ExitLine("cgroups/container", 0),
		LeftLine("cgroups/container", []string{"ember-test-9.server", "ember-test-9.server/x"}),
		RunLine("jail/container"),
		ExitLine("jail/container", 0),
		LeftLine("jail/container", nil),
		LeftLine("other", []string{"a"}), // no such run: ignored
		DoneLine(),
	}, "\n")
	rep, err := ParseReport(strings.NewReader(console))
	if err != nil {
		t.Fatal(err)
	}
	c, j := rep.Result("cgroups/container"), rep.Result("jail/container")
	if c == nil || j == nil || len(rep.Facts) != 0 {
		t.Fatalf("report = %+v", rep)
	}
	if c.Cgroup != "0::/" || !slices.Equal(c.Left, []string{"ember-test-9.server", "ember-test-9.server/x"}) || !slices.Equal(c.Passed, []string{"TestA"}) {
		t.Errorf("cgroups = %+v", c)
	}
	if j.Cgroup != "" || j.Left == nil || len(j.Left) != 0 {
		t.Errorf("jail = %+v", j)
	}
}
