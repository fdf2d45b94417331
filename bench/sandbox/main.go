// Command sandbox benchmarks Ember's isolation backends themselves, in one run on one machine:
//
//   - cold start: a bare fork+exec of the Go echo function until it connects to its Runtime
//     API; the same in new user, pid, mount, network, ipc and uts namespaces; each backend's
//     Create, Start and first answer; and, client-observed, the first invoke of freshly created
//     functions on `ember server --isolation X`;
//   - sandboxes created per second: Create and Start until the runtime first asks for work,
//     by -creators concurrent creators;
//   - memory an idle sandbox costs beyond its runtime process: the host's used memory with
//     -idle sandboxes, each invoked once and frozen, against the same number of bare runtime
//     processes, each invoked once.
//
// It must run as root (the backends need it), from the repository root:
//
//	go run ./bench/sandbox -json sandbox.json
//
// bench/README.md says what each figure means.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/ember-serverless/ember/internal/sandbox/gvisor"
	"github.com/ember-serverless/ember/internal/sandbox/jail"
)

func main() {
	// The backends re-execute this binary inside their sandboxes.
	jail.MaybeRunInit()
	gvisor.MaybeRunShim()

	var cfg config
	backends := flag.String("backends", "jail,gvisor", "comma-separated backends to measure")
	flag.StringVar(&cfg.Echo, "echo", "./bench/functions/echo", "echo function: bootstrap binary or package dir")
	flag.StringVar(&cfg.Ember, "ember", ".", "ember binary, or module root to build ./cmd/ember from (empty: skip the client-observed cold starts)")
	flag.IntVar(&cfg.N, "n", 50, "cold starts per target per round")
	flag.IntVar(&cfg.Rounds, "rounds", 3, "rounds; targets are visited in a rotated order each round and samples pooled")
	flag.IntVar(&cfg.MemoryMB, "memory", 128, "MemorySize of every sandbox and function, in MB")
	flag.IntVar(&cfg.Create, "create", 100, "sandboxes created for the creation rate (gVisor: a fifth of it)")
	flag.IntVar(&cfg.Creators, "creators", 2, "concurrent creators for the creation rate")
	flag.IntVar(&cfg.Idle, "idle", 50, "idle sandboxes (and bare runtimes) for the memory figure (gVisor: a fifth of it)")
	jsonOut := flag.String("json", "", "also write the results as JSON to this file")
	workDir := flag.String("workdir", "", "directory for builds, data dirs and logs (default: a temp dir, removed after)")
	flag.Parse()
	cfg.Backends = strings.Split(*backends, ",")

	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, *workDir, *jsonOut, logger); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}
