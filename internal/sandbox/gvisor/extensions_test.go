//go:build linux

package gvisor

import (
	"testing"
	"time"

	"github.com/ember-serverless/ember/internal/sandbox/sandboxtest"
)

func TestAGVisorSandboxStartsExtensionsThatTheWorkerCanDialIntoAtSandboxLocaldomain(t *testing.T) {
	b := newTestBackend(t)
	sandboxtest.RunExtensions(t, b, sandboxtest.Capabilities{Isolated: true, Leftovers: b.leftovers},
		sandboxtest.ExtensionsCase{MemoryMB: 256, ListenWithin: 20 * time.Second, RuntimeAPIAddr: RuntimeAPIAddr})
}
