package server

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/ember-serverless/ember/internal/runtimes"
	"github.com/ember-serverless/ember/internal/sandbox"
	"github.com/ember-serverless/ember/internal/sandbox/cgroups"
	"github.com/ember-serverless/ember/internal/sandbox/cgsandbox"
	"github.com/ember-serverless/ember/internal/sandbox/gvisor"
	"github.com/ember-serverless/ember/internal/sandbox/jail"
	"github.com/ember-serverless/ember/internal/sandbox/microvm"
	"github.com/ember-serverless/ember/internal/sandbox/process"
)

// newBackend returns the sandbox backend the operator asked for. Only an explicit "none" runs
// function code outside a sandbox.
func newBackend(cfg Config, rts *runtimes.Table, runtimeDirs map[string]string, logger *slog.Logger) (sandbox.Backend, error) {
	isolation, dataDir := cfg.Isolation, cfg.DataDir
	switch isolation {
	case "none":
		return process.New(), nil
	case "jail":
		hostPaths, err := runtimeHostPaths(rts, runtimeDirs)
		if err != nil {
			return nil, err
		}
		b, err := jail.New(jail.Config{
			InitPath:         sandboxInit(logger),
			StateDir:         filepath.Join("/run/ember", "jail"),
			ScratchDir:       filepath.Join(dataDir, "scratch"),
			Cgroups:          cgroups.Config{Prefix: cgroupPrefix(dataDir)},
			RuntimeDirs:      runtimeDirs,
			RuntimeHostPaths: hostPaths,
			CPULimit:         cgsandbox.CPULimit(cfg.CPULimit),
			CPUBurst:         cfg.CPUBurst,
		}, logger.With("role", "jail"))
		if err != nil {
			return nil, fmt.Errorf("isolation jail: %w", err)
		}
		return b, nil
	case "gvisor":
		key := dataDirKey(dataDir)
		b, err := gvisor.New(gvisor.Config{
			StateDir:    filepath.Join("/run/ember", "gvisor-"+key),
			LayerDir:    filepath.Join(dataDir, "gvisor-layers"),
			Cgroups:     cgroups.Config{Prefix: "ember-gvisor-" + key},
			RuntimeDirs: runtimeDirs,
		}, logger.With("role", "gvisor"))
		if err != nil {
			return nil, fmt.Errorf("isolation gvisor: %w", err)
		}
		return b, nil
	case "microvm":
		hostPaths, err := runtimeHostPaths(rts, runtimeDirs)
		if err != nil {
			return nil, err
		}
		exe, _ := os.Executable()
		b, err := microvm.New(microvm.Config{
			KernelDir:        microVMKernel(exe),
			AgentPath:        filepath.Join(filepath.Dir(exe), microvm.AgentProgram),
			StateDir:         filepath.Join(dataDir, "microvm", "vms"),
			CacheDir:         filepath.Join(dataDir, "microvm", "images"),
			MemDir:           filepath.Join("/dev/shm", "ember-"+dataDirKey(dataDir)),
			RuntimeDirs:      runtimeDirs,
			RuntimeHostPaths: hostPaths,
		}, logger.With("role", "microvm"))
		if err != nil {
			return nil, fmt.Errorf("isolation microvm: %w", err)
		}
		return b, nil
	default:
		return nil, fmt.Errorf("isolation %q: not available on this server (choose jail, gvisor, microvm or none)", isolation)
	}
}

// MicroVMKernelEnv names the directory of the microVMs' guest kernel (an unpacked
// linux-image-cloud-amd64 package with its uncompressed vmlinux, as scripts/setup makes).
const MicroVMKernelEnv = "EMBER_MICROVM_KERNEL"

// microVMKernel is $EMBER_MICROVM_KERNEL, else the kernel scripts/setup unpacked into the
// source tree the binary was built in (bin/ember beside .cache/vmtest/kernel), else
// /var/lib/ember/kernel.
func microVMKernel(exe string) string {
	if d := os.Getenv(MicroVMKernelEnv); d != "" {
		return d
	}
	if exe != "" {
		d := filepath.Join(filepath.Dir(filepath.Dir(exe)), ".cache", "vmtest", "kernel")
		if _, err := os.Stat(filepath.Join(d, "vmlinux")); err == nil {
			return d
		}
	}
	return "/var/lib/ember/kernel"
}

// cpuLimit says, for the start-up line, how backend limits a sandbox's CPU: only the jail has
// the burst mode.
func cpuLimit(cfg Config, backend sandbox.Backend) []any {
	switch {
	case isUnconfined(backend):
		return []any{"cpu_limit", "none"}
	case cfg.Isolation != "jail":
		return []any{"cpu_limit", string(cgsandbox.CPULimitStrict)}
	case cfg.CPULimit == string(cgsandbox.CPULimitBurst):
		return []any{"cpu_limit", cfg.CPULimit, "cpu_burst", cfg.CPUBurst}
	}
	return []any{"cpu_limit", cfg.CPULimit}
}

// runtimeHostPaths lists, for each managed runtime, the host files its interpreter needs: a
// jailed sandbox of that runtime sees those and nothing else of the host.
func runtimeHostPaths(rts *runtimes.Table, runtimeDirs map[string]string) (map[string][]string, error) {
	out := make(map[string][]string, len(runtimeDirs))
	for name := range runtimeDirs {
		rt, err := rts.Lookup(name)
		if err != nil {
			return nil, err
		}
		paths, err := rt.HostPaths()
		if err != nil {
			return nil, fmt.Errorf("runtime %s: the files its interpreter needs: %w", name, err)
		}
		if len(paths) > 0 {
			out[name] = paths
		}
	}
	return out, nil
}

// sandboxInit finds ember-init (cmd/ember-init) next to the server's binary, for the jail to
// start sandboxes with; without it, the jail re-runs the server's binary, which costs every
// cold start the server's package initialization (bench/README.md has the figure).
func sandboxInit(logger *slog.Logger) string {
	exe, err := os.Executable()
	if err != nil {
		return ""
	}
	p := jail.InitBeside(exe)
	if p == "" {
		logger.Info("no " + jail.InitProgram + " next to the server's binary: sandboxes start by re-running the server's binary, a few ms slower (build ./cmd/ember-init into " + filepath.Dir(exe) + ")")
	}
	return p
}

// cgroupPrefix starts the names of this server's jail sandboxes' groups: "ember-<dataDirKey>".
// Servers with different data dirs on one host never share it, so one server's prune of
// stale groups at start cannot touch another's sandboxes; a server restarted on the same
// data dir finds and prunes what its previous run left.
func cgroupPrefix(dataDir string) string { return "ember-" + dataDirKey(dataDir) }

// dataDirKey names a server on its host: 12 hex digits of its absolute data dir's hash.
func dataDirKey(dataDir string) string {
	if abs, err := filepath.Abs(dataDir); err == nil {
		dataDir = abs
	}
	sum := sha256.Sum256([]byte(dataDir))
	return hex.EncodeToString(sum[:6])
}

// installRuntimes writes the managed runtimes' clients into the data dir and returns each
// managed runtime's client directory on the host: the jail mounts it at /var/runtime.
func installRuntimes(dataDir string, rts *runtimes.Table) (map[string]string, error) {
	return rts.Install(filepath.Join(dataDir, "runtimes"))
}

// isUnconfined says whether backend runs function code outside any sandbox.
func isUnconfined(backend sandbox.Backend) bool {
	_, ok := backend.(sandbox.Unconfined)
	return ok
}

// clientDirs says where a sandbox of backend sees each runtime's client: at /var/runtime, or
// at its host path for an unconfined backend, which mounts nothing.
func clientDirs(backend sandbox.Backend, hostDirs map[string]string) map[string]string {
	if isUnconfined(backend) {
		return hostDirs
	}
	out := make(map[string]string, len(hostDirs))
	for rt := range hostDirs {
		out[rt] = runtimes.RuntimeDir
	}
	return out
}
