package process

import (
	"testing"

	"github.com/ember-serverless/ember/internal/sandbox"
	"github.com/ember-serverless/ember/internal/sandbox/sandboxtest"
)

// The process backend isolates nothing, so it runs only the conformance suite, with every
// isolation check skipped; the escape suite would let the hostile function act on the host
// and must never run against it.
func TestProcessPassesTheBackendConformanceSuite(t *testing.T) {
	b := New()
	sandboxtest.Run(t, func(*testing.T) sandbox.Backend { return b },
		sandboxtest.Capabilities{Isolated: false, HostPaths: true})
}
