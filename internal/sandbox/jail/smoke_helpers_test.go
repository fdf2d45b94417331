//go:build linux

package jail

import (
	"fmt"
	"io"
	"os"

	"github.com/ember-serverless/ember/internal/sandbox"
	"github.com/ember-serverless/ember/internal/sandbox/cgroups"
)

func io_ReadAll(r io.Reader) ([]byte, error) { return io.ReadAll(r) }

func cgroupsCfg() cgroups.Config {
	return cgroups.Config{Parent: fmt.Sprintf("ember-test-%d", os.Getpid())}
}

func specFor(id, code string, out *os.File, cmd []string) sandbox.Spec {
	return sandbox.Spec{ID: id, Runtime: "provided.al2023", CodeDir: code, Command: cmd, Env: []string{"PATH=/usr/bin:/bin"}, MemoryMB: 128, EphemeralStorageMB: 64, Output: out}
}
