// Package statetest gives tests a private embedded JetStream server in a temporary directory.
package statetest

import (
	"context"
	"testing"

	"github.com/ember-serverless/ember/internal/state"
)

// New opens a State on an embedded server whose files live in t.TempDir(); it is closed when
// the test ends.
func New(t testing.TB) *state.State {
	t.Helper()
	return NewIn(t, t.TempDir())
}

// NewIn opens a State on an embedded server storing its files in dir, so a test can close it
// and open it again on the same files to check what survives a restart.
func NewIn(t testing.TB, dir string) *state.State {
	t.Helper()
	st, err := state.Open(context.Background(), state.Config{DataDir: dir}, nil)
	if err != nil {
		t.Fatalf("open state: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}
