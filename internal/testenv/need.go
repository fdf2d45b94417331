package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// CIEnv is the variable .ci/run sets: where it is set, scripts/setup has installed everything
// the tests need, so a missing prerequisite is a failure, not a reason to skip.
const CIEnv = "CI"

// InCI reports whether the tests run under CI.
func InCI() bool { return os.Getenv(CIEnv) != "" }

// Need reports that the host lacks something the test needs, with the reason formatted from
// format and args ("needs X (Debian package x): ..."). Under CI it fails the test; elsewhere it
// skips it. Like t.Skip and t.Fatal it does not return. Use it only for host prerequisites
// that scripts/setup provides, not for skips chosen by flags (-short) or by configuration.
func Need(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if InCI() {
		t.Fatalf("%s; %s is set, so scripts/setup should have provided it", msg, CIEnv)
	}
	t.Skip(msg)
}

// NeedRoot needs the test to run as root; why says what for.
func NeedRoot(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		Need(t, "needs root: %s", why)
	}
}

// NeedCommand needs the program name (a path, or a name looked up in PATH) and returns its
// path; pkg names the Debian package that provides it.
func NeedCommand(t testing.TB, name, pkg string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		Need(t, "needs %s (Debian package %s; scripts/setup installs it): %v", name, pkg, err)
	}
	return path
}
