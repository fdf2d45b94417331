package sandbox

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// ErrDestroyed is returned by operations on a sandbox that has been destroyed.
var ErrDestroyed = errors.New("sandbox destroyed")

// Spec is everything a backend needs to build one sandbox for one function version.
type Spec struct {
	// ID names the sandbox uniquely on its host; backends use it for cgroup, directory and
	// process names.
	ID string
	// Runtime is the Lambda runtime identifier, e.g. "provided.al2023".
	Runtime string
	// CodeDir is a read-only, unpacked copy of the function's code; it appears as /var/task.
	CodeDir string
	// LayerDirs are unpacked layers, merged in order into /opt.
	LayerDirs []string
	// Command is the runtime process to start, as seen inside the sandbox
	// (e.g. ["/var/task/bootstrap"]).
	Command []string
	// Extensions are the Lambda external extensions to start next to the runtime, as seen
	// inside the sandbox (e.g. [["/opt/extensions/my-ext"]]), with the runtime's environment and
	// output. A backend that cannot run them rejects a spec that has any; see Dialer.
	Extensions [][]string
	// Env is the runtime's full environment, KEY=VALUE, without AWS_LAMBDA_RUNTIME_API: the
	// backend adds that one, pointing at the listener it returns from RuntimeAPI.
	Env []string
	// MemoryMB is the function's MemorySize: the sandbox's memory limit.
	MemoryMB int
	// EphemeralStorageMB bounds the sandbox's /tmp.
	EphemeralStorageMB int
	// SnapshotKey, when set, names the initialized state this sandbox may start from and be
	// saved as (SnapStart): a backend that implements Snapshotter restores the sandbox from
	// the snapshot of that key when it has one. Sandboxes of one key must have the same spec
	// but for ID and Output (the key is the function version's, with its code and settings).
	SnapshotKey string
	// Output receives the runtime's stdout and stderr: the write end of a pipe the worker reads
	// the function's log from. Backends hand it to the runtime process as both.
	Output *os.File
}

// ExitStatus says how a sandbox's runtime process ended.
type ExitStatus struct {
	// Code is the exit code, or -1 when the process was killed by a signal.
	Code int
	// Signal is the signal's name ("killed") when the process was killed by one.
	Signal string
	// OOM is true when the process was killed for exceeding the memory limit.
	OOM bool
}

// ExitStatusOf is how a process ended, from what exec.Cmd.Wait returned for it.
func ExitStatusOf(err error) ExitStatus {
	var ee *exec.ExitError
	switch {
	case err == nil:
		return ExitStatus{}
	case errors.As(err, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return ExitStatus{Code: -1, Signal: ws.Signal().String()}
		}
		return ExitStatus{Code: ee.ExitCode()}
	default:
		return ExitStatus{Code: -1}
	}
}

// Stats are resource figures the worker reports in REPORT lines.
type Stats struct {
	// MaxMemoryBytes is the peak resident memory of everything in the sandbox since it started.
	MaxMemoryBytes int64
}

// Backend creates sandboxes on one host.
type Backend interface {
	// Name is the isolation mode ("process", "jail", "gvisor", "microvm").
	Name() string
	// Create builds a sandbox and a listener on which its Runtime API must be served; it does
	// not start the runtime.
	Create(ctx context.Context, spec Spec) (Sandbox, error)
}

// Sandbox is one isolated environment running one runtime process.
type Sandbox interface {
	// ID is the Spec's ID.
	ID() string
	// RuntimeAPI is the listener the worker serves this sandbox's Runtime API on; inside the
	// sandbox it is reachable at the address in AWS_LAMBDA_RUNTIME_API.
	RuntimeAPI() net.Listener
	// Start starts the runtime process.
	Start(ctx context.Context) error
	// Done is closed when the runtime process has exited; Exit then tells how.
	Done() <-chan struct{}
	// Exit reports how the runtime process ended; valid after Done is closed.
	Exit() ExitStatus
	// Freeze pauses everything in the sandbox while it is idle; Thaw resumes it. Backends that
	// cannot freeze make both no-ops.
	Freeze() error
	Thaw() error
	// Stats reports resource use so far.
	Stats() Stats
	// Destroy kills every process in the sandbox and removes everything it created on the
	// host: mounts, cgroups, files, listeners. It is safe to call more than once.
	Destroy(ctx context.Context) error
}

// Dialer is implemented by sandboxes whose backend runs Spec.Extensions: Dial connects to an
// address as a process inside the sandbox would (the Telemetry API delivers events to an
// extension's listener at sandbox.localdomain:PORT, which is 127.0.0.1 inside). The worker
// refuses specs with extensions on sandboxes that are not Dialers.
type Dialer interface {
	Dial(ctx context.Context, network, addr string) (net.Conn, error)
}

// Snapshotter is implemented by sandboxes whose backend can save them once initialized and
// start later sandboxes of the same Spec.SnapshotKey from the saved state (SnapStart). The
// worker calls Snapshot when the runtime first asks for an invocation, before it hands it one:
// the runtime's pending request is answered by the sandbox as restored, which asks again.
type Snapshotter interface {
	Snapshot(ctx context.Context) error
}

// SnapshotBackend is implemented by backends whose sandboxes are Snapshotters: functions
// with SnapStart get snapshots only on such a backend.
type SnapshotBackend interface {
	SnapshotsSandboxes() bool
}

// Restorer is implemented by sandboxes that may have started from a snapshot: RestoreDuration
// is how long restoring took, or zero for a sandbox that booted and initialized afresh.
type Restorer interface {
	RestoreDuration() time.Duration
}

// InitBooster is implemented by sandboxes that lend a new sandbox more CPU than its share for
// its init (the jail and gVisor, see jail.Config.InitBoost). The worker calls EndInitBoost when
// the runtime first asks for an invocation: init is over.
type InitBooster interface {
	EndInitBoost() error
}

// Closer is implemented by backends that hold something on the host beyond their sandboxes (a
// cgroup parent, a helper process) until Close releases it. The server calls Close once every
// sandbox is destroyed.
type Closer interface {
	Close() error
}

// Unconfined is implemented by a backend that runs function code outside any sandbox, as plain
// processes of the host (the process backend, --isolation none): they see the host's files, so
// nothing is mounted at /var/runtime, and the server warns that functions are not isolated.
type Unconfined interface {
	Backend
	// Unconfined is a marker: it does nothing.
	Unconfined()
}

// InvokePhases is implemented by sandboxes whose CPU limit depends on what they are doing
// (the jail's burst mode: an invocation runs outside its sandbox's CPU limit until it has run
// for a while). The worker calls BeginInvoke as it hands the runtime an invocation and
// EndInvoke once the invocation is over; a cold start's init counts from Start, and an
// invocation begun during it continues the init's phase.
type InvokePhases interface {
	BeginInvoke()
	EndInvoke() error
}

// SandboxHostname is the name that resolves to the sandbox's own loopback address inside it.
const SandboxHostname = "sandbox.localdomain"

// DefaultShutdownGrace is how long a runtime gets between SIGTERM and SIGKILL.
const DefaultShutdownGrace = 500 * time.Millisecond
