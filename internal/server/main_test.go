package server_test

import (
	"os"
	"testing"

	"github.com/ember-serverless/ember/internal/sandbox/jail"
)

// TestMain lets the jail backend re-execute the test binary as a sandbox's init.
func TestMain(m *testing.M) {
	jail.MaybeRunInit()
	os.Exit(m.Run())
}
