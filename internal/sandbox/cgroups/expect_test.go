package cgroups

import (
	"fmt"
	"os"
	"testing"
)

// expectEnv names the cgroup hierarchy a host is known to have, "v1" or "v2". The VM of
// ../vmtest sets it to v2, so that the tests it runs there cannot pass on v1 by mistake.
const expectEnv = "EMBER_EXPECT_CGROUP"

func TestDetectChoosesTheExpectedVersion(t *testing.T) {
	want := os.Getenv(expectEnv)
	if want == "" {
		t.Skipf("%s (v1 or v2) is not set: only a host whose hierarchy is known can check what Detect chooses", expectEnv)
	}
	if os.Geteuid() != 0 {
		t.Fatalf("%s is set, but Detect needs root to prepare its parent group", expectEnv)
	}
	m, err := Detect(Config{Prefix: fmt.Sprintf("ember-test-%d", os.Getpid())})
	if err != nil {
		t.Fatalf("Detect on a host with cgroup %s: %v", want, err)
	}
	defer m.Close()
	if got := fmt.Sprintf("v%d", m.Version()); got != want {
		t.Fatalf("Detect chose cgroup %s, want %s", got, want)
	}
	t.Logf("Detect chose cgroup %s", want)
}
