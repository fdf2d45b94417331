package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/ember-serverless/ember/internal/api"
	"github.com/ember-serverless/ember/internal/assign"
	"github.com/ember-serverless/ember/internal/async"
	"github.com/ember-serverless/ember/internal/auth"
	"github.com/ember-serverless/ember/internal/codestore"
	"github.com/ember-serverless/ember/internal/control"
	"github.com/ember-serverless/ember/internal/esm"
	"github.com/ember-serverless/ember/internal/frontend"
	"github.com/ember-serverless/ember/internal/logs"
	"github.com/ember-serverless/ember/internal/placement"
	"github.com/ember-serverless/ember/internal/runtimes"
	"github.com/ember-serverless/ember/internal/sandbox"
	"github.com/ember-serverless/ember/internal/state"
	"github.com/ember-serverless/ember/internal/worker"
)

// Run starts every role and serves the API until ctx is done. On a first start it writes the
// generated root credentials, with the lines that use them, to out once.
func Run(ctx context.Context, cfg Config, logger *slog.Logger, out io.Writer) error {
	s, err := Start(ctx, cfg, logger, out)
	if err != nil {
		return err
	}
	return s.Wait(ctx)
}

// Wait serves until ctx is done, or until the state store has failed for longer than the
// configured grace, then shuts the server down. In the second case it returns the store's error,
// so that the process exits with it and a supervisor restarts it, rather than answering every
// control-plane request with an error.
func (s *Server) Wait(ctx context.Context) error {
	var failed error
	select {
	case <-ctx.Done():
	case <-s.state.Failed():
		failed = fmt.Errorf("stopping, for a supervisor to restart ember: %w", s.state.Err())
		s.logger.Error("the state store failed; stopping", "err", s.state.Err())
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	return errors.Join(failed, s.Shutdown(shutdownCtx))
}

// Server is a running Ember: every role in one process.
type Server struct {
	cfg         Config
	logger      *slog.Logger
	ln          net.Listener
	conns       *connCap // ln, holding at most MaxConnections
	http        *http.Server
	state       *state.State
	logs        *logs.Store
	registry    *control.Registry
	workers     []*worker.Worker
	provisioned *control.Provisioned
	provisioner *provisioner
	assign      *assign.Manager
	async       *async.Service
	esm         *esm.Service
	backend     sandbox.Backend
	served      chan error
	debug       *http.Server
	metrics     *http.Server
	metricsAddr string
	codeGC      *codeCollector
}

// Start starts every role and begins serving; it returns once the API is listening.
func Start(ctx context.Context, cfg Config, logger *slog.Logger, out io.Writer) (_ *Server, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if out == nil {
		out = io.Discard
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	// The runtimes this host runs, detected once: the registry's validation, the resolver and
	// the backend all read this table.
	rts := runtimes.Detect(ctx, nil)
	runtimeDirs, err := installRuntimes(cfg.DataDir, rts)
	if err != nil {
		return nil, err
	}
	backend, err := newBackend(cfg, rts, runtimeDirs, logger)
	if err != nil {
		return nil, err
	}
	// A generated root key is written, and printed, only once the server is serving: a start
	// that fails before (a busy port) must not leave a key behind that nobody was shown.
	creds, found, err := auth.LoadRoot(cfg.DataDir, os.Getenv)
	if err != nil {
		return nil, fmt.Errorf("root credentials: %w", err)
	}
	if !found {
		if creds, err = auth.GenerateKey(); err != nil {
			return nil, fmt.Errorf("root credentials: %w", err)
		}
	}

	s := &Server{cfg: cfg, logger: logger, served: make(chan error, 1), backend: backend}
	defer func() {
		if err != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			s.Shutdown(ctx)
		}
	}()

	if s.state, err = state.Open(ctx, cfg.stateConfig(), logger.With("role", "state"),
		state.WithServerLogger(logger.With("role", "nats"))); err != nil {
		return nil, err
	}
	js := s.state.JetStream()
	blobs, err := codestore.NewJetStreamBlobs(ctx, js, "code-chunks", s.state.Replicas())
	if err != nil {
		return nil, err
	}
	code := codestore.New(blobs, filepath.Join(cfg.DataDir, "code-cache"), codestore.WithLogger(logger.With("role", "codestore")))
	if err := code.RemoveStale(); err != nil {
		logger.Warn("could not clear stale unpack directories", "err", err)
	}
	if s.logs, err = logs.NewStore(ctx, js, logs.StoreConfig{Replicas: s.state.Replicas(), Region: cfg.Region, Account: cfg.AccountID,
		SpillDir: filepath.Join(cfg.DataDir, "logs-spill")}, logger.With("role", "logs")); err != nil {
		return nil, err
	}
	if s.registry, err = control.Open(ctx, s.state, control.Config{Region: cfg.Region, AccountID: cfg.AccountID, SnapStart: snapshots(backend),
		Runtimes: rts, ConcurrencyLimit: cfg.ConcurrencyLimit},
		control.Codestore{Store: code}, control.WithLogger(logger.With("role", "control")),
		control.WithPrepare(control.PrepareCode(code))); err != nil {
		return nil, err
	}
	var suffix string
	if isUnconfined(backend) {
		suffix = "WARNING: isolation=none: this function ran outside any sandbox\t"
	}
	freezeAfter := cfg.FreezeAfter
	if freezeAfter == 0 {
		freezeAfter = -1 // never
	}
	for i := range cfg.Workers {
		w, err := worker.New(worker.Config{Backend: backend, Logs: s.logs, Region: cfg.Region,
			ReportSuffix: suffix, FreezeAfter: freezeAfter, Logger: logger.With("role", "worker", "worker", i)})
		if err != nil {
			return nil, err
		}
		s.workers = append(s.workers, w)
	}
	place, err := newPlacement(cfg, s.workers, logger.With("role", "placement"))
	if err != nil {
		return nil, err
	}
	if s.assign, err = assign.New(assign.Config{Placement: place, IdleTimeout: cfg.IdleTimeout,
		MaxLifetime: cfg.SandboxMaxLifetime, Logger: logger.With("role", "assign")}); err != nil {
		return nil, err
	}
	if cfg.CodeGCInterval > 0 {
		grace := cfg.CodeGCGrace
		if grace == 0 {
			grace = DefaultCodeGCGrace
		}
		s.codeGC = startCodeCollector(s.registry, code, cfg.CodeGCInterval, grace, logger.With("role", "codegc"))
	}
	res, err := control.NewResolver(control.ResolverConfig{Functions: s.registry, Code: code,
		Runtimes: rts, ClientDirs: clientDirs(backend, runtimeDirs)})
	if err != nil {
		return nil, err
	}
	if s.provisioned, err = control.OpenProvisioned(ctx, s.state, s.registry); err != nil {
		return nil, err
	}
	s.provisioner = startProvisioner(s.provisioned, res, s.assign, logger.With("role", "provisioner"))
	fe, err := frontend.New(frontend.Config{Resolver: res, Assigner: s.assign, Limits: s.registry,
		ConcurrencyLimit: s.registry.ConcurrencyLimit(), Logger: logger.With("role", "frontend")})
	if err != nil {
		return nil, err
	}
	// A deleted function's resolved version, warm sandboxes and figures go with it.
	s.registry.OnDelete(func(name string) {
		res.Forget(name)
		s.assign.Forget(name)
		if s.esm != nil {
			s.esm.ForgetFunction(context.Background(), name)
		}
		fe.Forget(name)
		go s.provisioned.Forget(context.Background(), name)
		if s.async != nil {
			if err := s.async.ForgetFunction(context.Background(), name); err != nil {
				logger.Warn("could not delete a deleted function's event invoke configs", "function", name, "err", err)
			}
		}
	})
	// A deleted version's or alias's event invoke config goes with it, and a version's idle
	// sandboxes (an alias has none of its own).
	s.registry.OnDeleteQualifier(func(name, qualifier string) {
		s.assign.ForgetVersion(s.registry.Config().ARN(name) + ":" + qualifier)
		go s.provisioned.ForgetQualifier(context.Background(), name, qualifier)
		if s.async != nil {
			if err := s.async.ForgetQualifier(context.Background(), name, qualifier); err != nil {
				logger.Warn("could not delete a deleted version's or alias's event invoke config", "function", name,
					"qualifier", qualifier, "err", err)
			}
		}
	})
	if s.async, err = async.New(ctx, async.Config{JetStream: js, Replicas: s.state.Replicas(), Invoker: fe,
		Functions: asyncFunctions{s.registry}, ARNs: async.ARNs{Region: cfg.Region, AccountID: cfg.AccountID},
		RetryBaseDelay: cfg.AsyncRetryBaseDelay, AckWait: cfg.AsyncAckWait, Logger: logger.With("role", "async")}); err != nil {
		return nil, err
	}
	if s.esm, err = esm.New(ctx, esm.Config{JetStream: js, Replicas: s.state.Replicas(), Invoker: fe,
		Functions: esmFunctions{s.registry}, Sender: s.async.Sender(), ARNs: async.ARNs{Region: cfg.Region, AccountID: cfg.AccountID},
		Sources: esmSources(), SecretsDir: filepath.Join(cfg.DataDir, "secrets"), AckWait: cfg.AsyncAckWait, Logger: logger.With("role", "esm")}); err != nil {
		return nil, err
	}
	handler, err := newAPI(cfg, s, code, fe, auth.StaticKeys{creds.AccessKeyID: creds.SecretAccessKey}, logger)
	if err != nil {
		return nil, err
	}

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	maxConns := cfg.MaxConnections
	if maxConns == 0 {
		maxConns = DefaultMaxConnections
	}
	s.conns = capConns(ln, maxConns)
	s.ln = s.conns
	s.http = &http.Server{Handler: handler, ReadHeaderTimeout: api.ReadHeaderTimeout, IdleTimeout: api.IdleTimeout,
		MaxHeaderBytes: api.MaxHeaderBytes, ConnState: s.conns.ConnState,
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelDebug)}
	go func() { s.served <- s.http.Serve(s.ln) }()
	if err := s.async.Start(ctx); err != nil {
		return nil, err
	}
	s.esm.Start()

	if cfg.DebugListen != "" {
		if err := s.serveDebug(cfg.DebugListen); err != nil {
			return nil, err
		}
	}
	if cfg.MetricsListen != "" {
		if err := s.serveMetrics(cfg.MetricsListen, fe); err != nil {
			return nil, err
		}
	}
	created := false
	if !found {
		stored, ok, err := auth.StoreRoot(cfg.DataDir, creds)
		if err != nil {
			return nil, fmt.Errorf("root credentials: %w", err)
		}
		if !ok && stored != creds {
			return nil, fmt.Errorf("root credentials: another process created %s while this server started", auth.RootFilePath(cfg.DataDir))
		}
		created = ok
	}

	// Tests and the bench that start `ember server --listen 127.0.0.1:0` read the port it chose
	// from this line's endpoint.
	endpoint := "http://" + s.ln.Addr().String()
	attrs := append([]any{"endpoint", endpoint, "data_dir", cfg.DataDir, "isolation", backend.Name()}, cpuLimit(cfg, backend)...)
	attrs = append(attrs, "freeze_after", cfg.FreezeAfter, "region", cfg.Region, "account", cfg.AccountID)
	logger.Info("ember is serving", attrs...)
	if isUnconfined(backend) {
		logger.Warn("isolation=none: function code runs as plain processes of this server, outside any sandbox")
	}
	if created {
		fmt.Fprintf(out, "Generated root credentials, stored in %s (shown this once):\n\n%s\n",
			auth.RootFilePath(cfg.DataDir), auth.ConfigureHint(creds, endpoint, cfg.Region))
	}
	return s, nil
}

// Addr is where the API listens.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Shutdown stops serving, destroys every sandbox, stores the logs and closes the state.
func (s *Server) Shutdown(ctx context.Context) error {
	var errs []error
	if s.esm != nil {
		// Mappings' pollers stop first: batches running go back to their sources
		// unacknowledged, to be read again after the restart.
		s.esm.Close()
	}
	if s.async != nil {
		// Intake stops first (503), then queued events stop being taken; the events running
		// finish, or go back to the queue at the deadline, while the sandboxes still exist.
		if err := s.async.Drain(ctx); err != nil {
			s.logger.Warn("asynchronous events were still running at shutdown", "err", err)
		}
	}
	if s.http != nil {
		errs = append(errs, s.http.Shutdown(ctx))
	}
	if s.async != nil {
		s.async.Close()
	}
	if s.debug != nil {
		s.debug.Close()
	}
	if s.metrics != nil {
		s.metrics.Close()
	}
	if s.codeGC != nil {
		s.codeGC.stop()
	}
	if s.provisioner != nil {
		s.provisioner.stop()
	}
	if s.provisioned != nil {
		s.provisioned.Close()
	}
	if s.assign != nil {
		s.assign.Close()
	}
	for _, w := range s.workers {
		w.Close(ctx)
	}
	if c, ok := s.backend.(sandbox.Closer); ok {
		// Releases what the backend set up on the host, such as its cgroup parent.
		errs = append(errs, c.Close())
	}
	if s.logs != nil {
		errs = append(errs, s.logs.Close(ctx))
	}
	if s.registry != nil {
		errs = append(errs, s.registry.Close())
	}
	if s.state != nil {
		errs = append(errs, s.state.Close())
	}
	return errors.Join(errs...)
}

// newPlacement packs sandboxes onto the workers by memory, each worker with an equal share of
// the host's memory less the reserve unless configured.
func newPlacement(cfg Config, workers []*worker.Worker, logger *slog.Logger) (*placement.Pack, error) {
	reserve := cfg.MemoryReserveMB
	switch reserve {
	case 0:
		reserve = placement.DefaultReserveMB()
	case -1:
		reserve = 0
	}
	capacity := cfg.WorkerMemoryMB
	if capacity == 0 {
		total, err := placement.MemTotalMB()
		if err != nil {
			return nil, fmt.Errorf("placement: %w (set --worker-memory)", err)
		}
		capacity = max(1, (total-reserve)/int64(len(workers)))
	}
	ws := make([]placement.Worker, len(workers))
	for i, w := range workers {
		ws[i] = w
	}
	logger.Info("placement", "workers", len(workers), "worker_memory_mb", capacity, "reserve_mb", reserve)
	return placement.NewPack(placement.Config{Workers: ws, CapacityMB: capacity, ReserveMB: reserve, Logger: logger})
}

// Sandboxes is how many sandboxes the workers hold now.
func (s *Server) Sandboxes() int {
	n := 0
	for _, w := range s.workers {
		n += w.Sandboxes()
	}
	return n
}

// snapshots says whether the backend snapshots initialized sandboxes (SnapStart).
func snapshots(b sandbox.Backend) bool {
	sb, ok := b.(sandbox.SnapshotBackend)
	return ok && sb.SnapshotsSandboxes()
}
