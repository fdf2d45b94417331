// Package wire is what the microVM backend's host side and its guest agent say to each other
// over virtio-serial: the names of the two ports, the control messages (JSON lines on the
// control port) and the kinds of multiplexed streams on the data port. It holds types and
// constants only; both sides import it, and it imports nothing of either.
package wire

import "github.com/ember-serverless/ember/internal/sandbox"

// The virtio-serial ports, found in the guest by name under /sys/class/virtio-ports.
const (
	// CtlPort carries Requests from the host and Messages from the agent, one JSON object
	// a line. It holds no session state, so a restored VM's new host simply keeps talking.
	CtlPort = "ember.ctl"
	// DataPort carries a yamux session (the agent is the client) whose streams each start
	// with one kind byte.
	DataPort = "ember.data"
)

// Kinds of streams the agent opens on the data port; the first byte of a stream says which.
const (
	// StreamRuntimeAPI relays one connection the runtime made to its Runtime API address.
	StreamRuntimeAPI byte = 'R'
	// StreamOutput carries the runtime's stdout and stderr.
	StreamOutput byte = 'O'
)

// Operations of Requests.
const (
	OpCreate   = "create"   // build the jailed sandbox (Request.Create)
	OpStart    = "start"    // start its runtime
	OpStats    = "stats"    // report resource use (Message.Stats)
	OpQuiesce  = "quiesce"  // end the data session before a snapshot
	OpResume   = "resume"   // after a snapshot or restore: be unique, open a new data session
	OpShutdown = "shutdown" // end the runtime (SIGTERM, grace, SIGKILL) and power off
)

// Events the agent reports unasked.
const (
	EventReady = "ready" // the agent has booted and serves requests
	EventExit  = "exit"  // the runtime has exited (Message.Exit)
)

// Request is one instruction from the host. The agent answers each with a Message of the
// same ID.
type Request struct {
	ID     int64   `json:"id"`
	Op     string  `json:"op"`
	Create *Create `json:"create,omitempty"`
	Resume *Resume `json:"resume,omitempty"`
}

// Create is the sandbox to build in the guest: a sandbox.Spec without host paths, plus what
// the guest's jail needs to know of the host's configuration.
type Create struct {
	ID                 string   `json:"id"`
	Runtime            string   `json:"runtime"`
	Command            []string `json:"command"`
	Env                []string `json:"env"`
	MemoryMB           int      `json:"memoryMB"`
	EphemeralStorageMB int      `json:"ephemeralStorageMB"`
	// Layers is how many layers the function image holds (FnLayerDir(0..Layers-1)).
	Layers int `json:"layers"`
	// RuntimeDir says the function image holds a managed runtime's client (FnRuntimeDir).
	RuntimeDir bool `json:"runtimeDir"`
	// RuntimeHostPaths are the interpreter's files for the jail (jail.Config.RuntimeHostPaths
	// of this runtime); the root image holds them at the same paths.
	RuntimeHostPaths []string `json:"runtimeHostPaths,omitempty"`
}

// Resume makes a VM that was snapshotted, or restored from a snapshot, unique and connected.
type Resume struct {
	// UnixNano is the host's wall clock, which the guest's is set to.
	UnixNano int64 `json:"unixNano"`
	// Entropy is fresh randomness from the host, credited to the guest kernel's pool before
	// it reseeds its generator.
	Entropy []byte `json:"entropy"`
}

// Message is the agent's answer to a Request (ID > 0), or an event (Event set).
type Message struct {
	ID    int64               `json:"id,omitempty"`
	Err   string              `json:"err,omitempty"`
	Event string              `json:"event,omitempty"`
	Exit  *sandbox.ExitStatus `json:"exit,omitempty"`
	Stats *sandbox.Stats      `json:"stats,omitempty"`
	Facts map[string]string   `json:"facts,omitempty"`
}

// Disks are found in the guest by their virtio serial (/sys/block/vd*/serial).
const (
	RootDisk    = "ember-root"    // read-only: the programs and libraries runtimes may use
	FnDisk      = "ember-fn"      // read-only: the function's code, layers and runtime client
	ScratchDisk = "ember-scratch" // writable ext4, made on the host: where the jail keeps /tmp
)

// Paths in the guest.
const (
	FnMount      = "/ember/fn"
	ScratchMount = "/ember/scratch"
)

// Directories of the function image, relative to its root.
const (
	FnCodeDir    = "code"
	FnRuntimeDir = "runtime"
	FnLayersDir  = "layers" // layers/0, layers/1, ... in order
)
