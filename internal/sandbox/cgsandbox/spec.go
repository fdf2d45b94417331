package cgsandbox

import (
	"fmt"
	"os"
	"regexp"
	"time"

	"github.com/ember-serverless/ember/internal/limits"
	"github.com/ember-serverless/ember/internal/sandbox"
)

// CPULimit says when a sandbox is held to the CPU share its memory buys.
type CPULimit string

const (
	// CPULimitBurst lets an init or invocation run outside its sandbox's CPU limit until it
	// has run for the burst threshold, and holds it to the limit from then until it ends.
	CPULimitBurst CPULimit = "burst"
	// CPULimitStrict holds every sandbox to its limit from the first instruction, as AWS does.
	CPULimitStrict CPULimit = "strict"
)

// DefaultCPUBurst is how long an init or invocation runs outside its CPU limit in burst mode.
const DefaultCPUBurst = 20 * time.Millisecond

// Validate checks that l names a mode.
func (l CPULimit) Validate() error {
	switch l {
	case CPULimitBurst, CPULimitStrict:
		return nil
	}
	return fmt.Errorf("CPU limit %q is neither %q nor %q", string(l), CPULimitBurst, CPULimitStrict)
}

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
		spec.EphemeralStorageMB = limits.DefaultEphemeralStorageMB
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
