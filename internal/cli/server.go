package cli

import (
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/ember-serverless/ember/internal/server"
)

func newServerCommand(stdio IO) *cobra.Command {
	cfg := server.DefaultConfig()
	var logLevel slog.Level
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run every Ember role in one process, serving the Lambda API",
		Long: `Run every Ember role in one process with embedded state: the Lambda and
CloudWatch Logs APIs, the frontend, the worker manager and a worker.

On the first start in a data dir the root credentials are generated, written to
<data-dir>/root-credentials.json and printed once, unless EMBER_ROOT_ACCESS_KEY_ID
and EMBER_ROOT_SECRET_ACCESS_KEY are set.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := cfg.Validate(); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			logger := slog.New(slog.NewTextHandler(stdio.Err, &slog.HandlerOptions{Level: logLevel}))
			return runServer(ctx, cfg, logger, stdio.Out)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Listen, "listen", cfg.Listen, "HOST:PORT the API listens on")
	f.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "directory holding state, code and credentials")
	f.StringVar(&cfg.Region, "region", cfg.Region, "region that appears in ARNs")
	f.StringVar(&cfg.AccountID, "account-id", cfg.AccountID, "12-digit account id that appears in ARNs")
	f.StringVar(&cfg.Isolation, "isolation", cfg.Isolation, "sandbox backend: jail (Linux namespaces, cgroups, seccomp), gvisor, microvm (a QEMU microVM per sandbox, the jail inside), or none (plain processes, no isolation)")
	f.DurationVar(&cfg.IdleTimeout, "idle-timeout", cfg.IdleTimeout, "how long an idle sandbox is kept warm")
	f.DurationVar(&cfg.SandboxMaxLifetime, "sandbox-max-lifetime", cfg.SandboxMaxLifetime, "how long a sandbox may live, busy or idle, before it is replaced by a fresh one when next released")
	f.IntVar(&cfg.Workers, "workers", cfg.Workers, "workers running sandboxes in this process; placement packs sandboxes onto them by memory")
	f.Int64Var(&cfg.WorkerMemoryMB, "worker-memory", cfg.WorkerMemoryMB, "each worker's memory in MB, which the MemorySize of its sandboxes stays within (0: the host's memory less the reserve, shared equally)")
	f.Int64Var(&cfg.MemoryReserveMB, "memory-reserve", cfg.MemoryReserveMB, "host memory in MB kept free: an invoke that needs a new sandbox is throttled rather than taking it (0: a tenth of the host's, at least 256; -1: none)")
	f.IntVar(&cfg.ConcurrencyLimit, "concurrency-limit", cfg.ConcurrencyLimit, "the account's concurrent executions (at least 100, which reserved concurrency must leave unreserved)")
	f.DurationVar(&cfg.AsyncRetryBaseDelay, "async-retry-delay", cfg.AsyncRetryBaseDelay,
		"wait before an asynchronous event's first retry after a function error; the second waits twice as long")
	f.DurationVar(&cfg.AsyncAckWait, "async-ack-wait", cfg.AsyncAckWait,
		"how long a queued event may go without a sign of life before it is run again (after a crash, the wait for it)")
	f.StringVar(&cfg.NATSListen, "nats-listen", cfg.NATSListen,
		"HOST:PORT where the embedded NATS server accepts clients, to read destination and dead-letter subjects (unauthenticated; default: off)")
	f.StringVar(&cfg.CPULimit, "cpu-limit", cfg.CPULimit, "when a jailed sandbox is held to the CPU share its memory buys: burst (once an init or invoke has used --cpu-burst of CPU time, until it ends) or strict (always, as AWS)")
	f.DurationVar(&cfg.CPUBurst, "cpu-burst", cfg.CPUBurst, "how much CPU time an init or invoke uses outside its CPU limit with --cpu-limit=burst")
	f.DurationVar(&cfg.FreezeAfter, "freeze-after", cfg.FreezeAfter, "how long a sandbox stays idle before it is frozen (0: never)")
	f.StringVar(&cfg.NATSURL, "nats-url", cfg.NATSURL, "external NATS cluster URL (default: embedded server)")
	f.IntVar(&cfg.Replicas, "replicas", cfg.Replicas, "replica count of every bucket and stream (default: 1 embedded; 3 on an external cluster of three or more servers)")
	f.DurationVar(&cfg.StoreGrace, "store-grace", cfg.StoreGrace, "how long the state store may fail its health checks before the server exits with an error for its supervisor")
	f.StringVar(&cfg.DebugListen, "debug-listen", cfg.DebugListen, "HOST:PORT to serve Go's pprof profiles on (default: off)")
	f.StringVar(&cfg.MetricsListen, "metrics-listen", cfg.MetricsListen, "HOST:PORT to serve Prometheus metrics on at /metrics, unauthenticated (default: off; never on the API's port)")
	f.IntVar(&cfg.MaxConnections, "max-connections", cfg.MaxConnections, "most API connections held open at once; past it, the longest-idle one is closed to make room (or the new one, when every one has a request in progress)")
	f.DurationVar(&cfg.CodeGCInterval, "code-gc-interval", cfg.CodeGCInterval, "how often code no function or layer uses any more is deleted, besides soon after each delete (0: never)")
	f.DurationVar(&cfg.CodeGCGrace, "code-gc-grace", cfg.CodeGCGrace, "how recently stored code is kept although nothing uses it yet (at least 1m)")
	f.TextVar(&logLevel, "log-level", slog.LevelInfo, "log level: debug, info, warn or error")
	return cmd
}

// runServer is server.Run; a variable so the command's flag handling can be tested alone.
var runServer = server.Run
