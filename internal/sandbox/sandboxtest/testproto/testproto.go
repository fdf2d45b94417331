// Package testproto is the protocol of the sandbox suites' test function (../testruntime):
// the events that tell it what to do and the results it answers. The suites (package
// sandboxtest) send them and the function, built on its own, decodes them; both use these
// types, so the two cannot drift apart.
//
// The package is for tests only and must not be imported by production code.
package testproto

// Event is one instruction to the test function.
type Event struct {
	Op     string        `json:"op"`
	Value  string        `json:"value,omitempty"`
	MB     int           `json:"mb,omitempty"`
	Millis int           `json:"millis,omitempty"`
	Code   int           `json:"code,omitempty"`
	Escape *EscapeParams `json:"escape,omitempty"`
}

// Result is the test function's answer.
type Result struct {
	Value   string            `json:"value,omitempty"`
	Count   int               `json:"count,omitempty"`
	Err     string            `json:"err,omitempty"`
	Results map[string]string `json:"results,omitempty"`
}

// EscapeParams tells the function's escapes (op "escape") what to go for on the host.
type EscapeParams struct {
	// HostFiles are readable files on the host that must not be readable (or even visible).
	HostFiles []string `json:"hostFiles"`
	// DataFiles are files in the server's data directory.
	DataFiles []string `json:"dataFiles"`
	// OtherCode are files of another function's code.
	OtherCode []string `json:"otherCode"`
	// HostDirs are directories on the host that must not be writable or visible.
	HostDirs []string `json:"hostDirs"`
	// ServerAddr is a TCP address the server listens on, on the host's loopback.
	ServerAddr string `json:"serverAddr"`
	// ServerPid is the server's host pid.
	ServerPid int `json:"serverPid"`
	// ServerCmdline is a string in the server's command line.
	ServerCmdline string `json:"serverCmdline"`
	// TmpLimitMB is the sandbox's EphemeralStorage.
	TmpLimitMB int `json:"tmpLimitMB"`
	// HostPaths are host directories (the data dir, the code's) whose names must not show in
	// what the sandbox can read about its own mounts.
	HostPaths []string `json:"hostPaths"`
}
