package testenv

import (
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
