//go:build linux

package jail

import (
	"fmt"
	"os"
	"testing"
)

// TestTheJailUsesTheExpectedCgroupVersion checks, where EMBER_EXPECT_CGROUP names the
// hierarchy the host has (the VM of ../vmtest sets v2), that the backend runs on it: the rest
// of this package's tests then exercise that version.
func TestTheJailUsesTheExpectedCgroupVersion(t *testing.T) {
	want := os.Getenv("EMBER_EXPECT_CGROUP")
	if want == "" {
		t.Skip("EMBER_EXPECT_CGROUP (v1 or v2) is not set: only a host whose hierarchy is known can check the version the jail uses")
	}
	b := newTestBackend(t)
	if got := fmt.Sprintf("v%d", b.CgroupVersion()); got != want {
		t.Fatalf("the jail uses cgroup %s, want %s", got, want)
	}
}
