package cgsandbox

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"time"

	"github.com/ember-serverless/ember/internal/limits"
	"github.com/ember-serverless/ember/internal/sandbox"
)

// CPULimit says when a sandbox is held to the CPU share its memory buys.
type CPULimit string

const (
	// CPULimitBurst lets an init or invocation run outside its sandbox's CPU limit until it
	// has used the burst threshold of CPU time, and holds it to the limit from then until it
	// ends.
	CPULimitBurst CPULimit = "burst"
	// CPULimitStrict holds every sandbox to its limit from the first instruction, as AWS does.
	CPULimitStrict CPULimit = "strict"
)

// DefaultCPUBurst is how much CPU time an init or invocation uses outside its CPU limit in
// burst mode.
const DefaultCPUBurst = 20 * time.Millisecond

// Validate checks that l names a mode.
func (l CPULimit) Validate() error {
	switch l {
	case CPULimitBurst, CPULimitStrict:
		return nil
	}
	return fmt.Errorf("CPU limit %q is neither %q nor %q", string(l), CPULimitBurst, CPULimitStrict)
}

// DefaultHostDirs are the host directories a backend shares read-only into every sandbox
// unless configured otherwise: what a custom bootstrap script needs of the host (a shell,
// libc, the usual tools).
var DefaultHostDirs = []string{"/usr", "/bin", "/lib", "/lib64", "/sbin"}

// ownDirs are the directories every sandbox has of its own, which a host dir must not shadow.
var ownDirs = []string{"/proc", "/dev", "/tmp", "/etc", "/var", "/var/task", "/opt", "/sys"}

// ValidateHostDirs checks a backend's host dirs: each a clean absolute path other than /, and
// none one of the sandbox's own directories, or one of extra, the backend's own besides.
func ValidateHostDirs(dirs []string, extra ...string) error {
	for _, d := range dirs {
		if !filepath.IsAbs(d) || filepath.Clean(d) != d || d == "/" {
			return fmt.Errorf("host dir %q must be a clean absolute path other than /", d)
		}
		if slices.Contains(ownDirs, d) || slices.Contains(extra, d) {
			return fmt.Errorf("host dir %q would shadow the sandbox's own", d)
		}
	}
	return nil
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
