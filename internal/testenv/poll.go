package testenv

import (
	"os"
	"strconv"
	"testing"
	"time"
)

// CheckFor calls f every step until it returns nil, and fails the test with f's last error
// once total has passed without that. f says in its error what it is still waiting for. The
// step is a poll interval, not synchronisation: f decides. CheckFor always calls f at least
// once, and once more after total has passed, so a slow machine never fails a condition that
// held by the deadline.
func CheckFor(t testing.TB, total, step time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(total)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still waiting after %s: %v", total, err)
		}
		time.Sleep(step)
	}
}

// TimeScaleEnv, when set to a number above 1, multiplies the deadlines that Scaled returns.
// Tests that run under an emulated CPU (QEMU's TCG: the microVM tests, and the suites the VM
// tests run inside a guest) set it, because everything there is several times slower.
const TimeScaleEnv = "EMBER_TEST_TIME_SCALE"

// Scaled returns d multiplied by $EMBER_TEST_TIME_SCALE (1 when unset or not a number above
// 1). It is for deadlines that only catch a hang, never for performance assertions.
func Scaled(d time.Duration) time.Duration {
	f, err := strconv.ParseFloat(os.Getenv(TimeScaleEnv), 64)
	if err != nil || f <= 1 {
		return d
	}
	return time.Duration(float64(d) * f)
}
