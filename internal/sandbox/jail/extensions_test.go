//go:build linux

package jail

import (
	"testing"
	"time"

	"github.com/ember-serverless/ember/internal/sandbox/sandboxtest"
)

func TestAJailStartsExtensionsThatTheWorkerCanDialIntoAtSandboxLocaldomain(t *testing.T) {
	b := newTestBackend(t)
	sandboxtest.RunExtensions(t, b, sandboxtest.Capabilities{Isolated: true, Leftovers: b.leftovers},
		sandboxtest.ExtensionsCase{MemoryMB: 128, ListenWithin: 10 * time.Second, RuntimeAPIAddr: RuntimeAPIAddr})
}
