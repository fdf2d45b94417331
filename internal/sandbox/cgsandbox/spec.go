package cgsandbox

import (
	"fmt"
	"os"
	"regexp"

	"github.com/ember-serverless/ember/internal/sandbox"
)

// DefaultEphemeralStorageMB is Lambda's /tmp size when a function sets none.
const DefaultEphemeralStorageMB = 512

var validID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// ValidateSpec checks what every cgroup-backed backend needs of a spec, and gives
// EphemeralStorageMB Lambda's default when it is unset. Errors wrap invalid, the
// backend's own sentinel.
func ValidateSpec(spec *sandbox.Spec, invalid error) error {
	if !validID.MatchString(spec.ID) {
		return fmt.Errorf("%w: id %q must be 1-128 letters, digits, '.', '_' or '-'", invalid, spec.ID)
	}
	if len(spec.Command) == 0 {
		return fmt.Errorf("%w: no command", invalid)
	}
	if spec.MemoryMB <= 0 {
		return fmt.Errorf("%w: memory %d MB", invalid, spec.MemoryMB)
	}
	if spec.EphemeralStorageMB <= 0 {
		spec.EphemeralStorageMB = DefaultEphemeralStorageMB
	}
	if spec.Output == nil {
		return fmt.Errorf("%w: no output file", invalid)
	}
	fi, err := os.Stat(spec.CodeDir)
	if err != nil || !fi.IsDir() {
		return fmt.Errorf("%w: code dir %q is not a directory", invalid, spec.CodeDir)
	}
	return nil
}
