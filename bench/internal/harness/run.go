package harness

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// Config is everything a bench run can be told. Paths are either a program or a directory to
// build it from.
type Config struct {
	// Echo is the echo function: a bootstrap binary, or its package directory.
	Echo string `json:"echo"`
	// Floor is shared/bench/floor: its binary or its source directory. Empty skips floor.
	Floor string `json:"floor,omitempty"`
	// RIE is an aws-lambda-rie binary the operator built from its public source. Empty skips it.
	RIE string `json:"rie,omitempty"`
	// Ember is the ember binary or the module root to build ./cmd/ember from. Empty skips it.
	Ember string `json:"ember,omitempty"`
	// EmberArgs are appended to `ember server --listen ADDR --data-dir DIR`.
	EmberArgs []string `json:"ember_args,omitempty"`
	// MemorySize is the echo function's MemorySize on Ember, in MB.
	MemorySize int32 `json:"memory_size"`

	// Warmup invokes precede the Invokes measured one at a time from one client.
	Warmup  int `json:"warmup"`
	Invokes int `json:"invokes"`
	// Clients run concurrently for WarmupDuration, then for Duration while measured.
	Clients        int           `json:"clients"`
	WarmupDuration time.Duration `json:"warmup_duration"`
	Duration       time.Duration `json:"duration"`
	// Rounds repeats every measurement, visiting the targets in a rotated order each round, and
	// pools the samples, so that drift in the machine's speed falls on every target alike.
	Rounds int `json:"rounds"`
	// Functions is how many distinct functions the cold mode creates and invokes once each.
	Functions int `json:"functions"`

	Region string `json:"region"`
	// WorkDir holds builds, data dirs and server logs; it is the caller's to remove.
	WorkDir string `json:"-"`
}

// Validate reports the first thing wrong with the config.
func (c Config) Validate() error {
	switch {
	case c.Echo == "":
		return errors.New("the echo function is required")
	case c.Floor == "" && c.RIE == "" && c.Ember == "":
		return errors.New("nothing to measure: give at least one of floor, rie and ember")
	case c.Invokes < 1 || c.Warmup < 0 || c.Rounds < 1 || c.Functions < 1:
		return errors.New("invokes, rounds and functions must be positive and warmup not negative")
	case c.Clients < 1 || c.Duration <= 0 || c.WarmupDuration < 0:
		return errors.New("clients and duration must be positive")
	case c.WorkDir == "":
		return errors.New("a work dir is required")
	}
	return nil
}

// bench is one run's programs, client and credentials.
type bench struct {
	cfg       Config
	log       *slog.Logger
	client    *Client
	creds     aws.Credentials
	bootstrap string
	zip       []byte
	floor     string
	rie       string
	ember     string
	// emberErr says why Ember cannot be measured in this run, when it cannot.
	emberErr error
	// isolation is the backend the last Ember server started said it uses.
	isolation string
	// logs sums the servers' log counters over logRounds rounds; logNote says why a round's
	// were not read.
	logs      LogCounts
	logRounds int
	logNote   string
}

// prepare builds or finds every program the run needs.
func prepare(ctx context.Context, cfg Config, logger *slog.Logger) (*bench, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	b := &bench{cfg: cfg, log: logger}
	b.creds = NewCredentials("AKIAEMBERBENCH000001")
	b.client = NewClient(b.creds, cfg.Region, cfg.Clients)

	var err error
	logger.Info("building the echo function")
	if b.bootstrap, err = Resolve(ctx, cfg.Echo, ".", filepath.Join(cfg.WorkDir, "function", "bootstrap")); err != nil {
		return nil, err
	}
	if b.zip, err = ZipBootstrap(b.bootstrap); err != nil {
		return nil, err
	}
	if cfg.Floor != "" {
		logger.Info("building floor", "from", cfg.Floor)
		if b.floor, err = Resolve(ctx, cfg.Floor, ".", filepath.Join(cfg.WorkDir, "floor")); err != nil {
			return nil, err
		}
	}
	if cfg.RIE != "" {
		// The operator builds the emulator from its public source; the bench never does.
		if fi, err := os.Stat(cfg.RIE); err != nil || fi.IsDir() {
			return nil, fmt.Errorf("-rie %s: want an aws-lambda-rie binary built from its public source", cfg.RIE)
		}
		if b.rie, err = filepath.Abs(cfg.RIE); err != nil {
			return nil, err
		}
	}
	if cfg.Ember != "" {
		logger.Info("building ember", "from", cfg.Ember)
		// Ember may not build or run yet; floor's and the emulator's figures still stand.
		if b.ember, err = ResolveEmber(ctx, cfg.Ember, filepath.Join(cfg.WorkDir, "ember")); err != nil {
			logger.Warn("ember not measured", "err", err)
			b.emberErr = err
		}
	}
	return b, nil
}

func (b *bench) emberConfig() EmberConfig {
	return EmberConfig{
		Bin: b.ember, Args: b.cfg.EmberArgs, Creds: b.creds, Region: b.cfg.Region,
		Zip: b.zip, MemorySize: b.cfg.MemorySize, WorkDir: b.cfg.WorkDir,
	}
}

// pool gathers one (target, phase)'s measurements over every round.
type pool struct {
	samples  []time.Duration
	errors   int
	firstErr error
	tp       Throughput
	runtimes int
	skipped  error
	// serverCPU is the server process's own CPU time over serverInvokes measured invokes.
	serverCPU     time.Duration
	serverInvokes int
	// rounds holds each round's own figure: its p50 in milliseconds at one client, its rate
	// at many.
	rounds []float64
}

func (p *pool) cpu(m cpuMeter, invokes int) {
	if d, ok := m.stop(); ok {
		p.serverCPU += d
		p.serverInvokes += invokes
	}
}

func (p *pool) sequential(s Sequential, elapsed time.Duration) {
	p.rounds = append(p.rounds, millis(Summarize(s.Samples).P50))
	p.samples = append(p.samples, s.Samples...)
	p.errors += s.Errors
	p.tp = p.tp.Add(Throughput{Clients: 1, Count: len(s.Samples), Errors: s.Errors, Elapsed: elapsed})
	if p.firstErr == nil {
		p.firstErr = s.FirstErr
	}
}

func (p *pool) concurrent(c Concurrent) {
	p.rounds = append(p.rounds, c.RPS())
	p.samples = append(p.samples, c.Samples...)
	p.errors += c.Errors
	p.tp = p.tp.Add(c.Throughput)
	if p.firstErr == nil {
		p.firstErr = c.FirstErr
	}
}

func (p *pool) row(target, phase string, clients int) Row {
	r := rowFromSummary(Row{Target: target, Phase: phase, Clients: clients, Runtimes: p.runtimes, Errors: p.errors}, Summarize(p.samples))
	r.RPS = p.tp.RPS()
	if p.serverInvokes > 0 {
		r.ServerCPUUs = float64(p.serverCPU) / float64(time.Microsecond) / float64(p.serverInvokes)
	}
	switch {
	case p.skipped != nil && len(p.samples) == 0:
		r.Note = "not measured: " + p.skipped.Error()
	case p.skipped != nil:
		r.Note = "later rounds not measured: " + p.skipped.Error()
	case p.firstErr != nil:
		r.Note = "first error: " + p.firstErr.Error()
	}
	return r
}

// latency warms t up with one client, then measures Invokes sequential invokes.
func (b *bench) latency(ctx context.Context, t *Target, p *pool) {
	b.client.CloseIdle()
	b.client.RunSequential(ctx, t.URL, b.cfg.Warmup)
	start, meter := time.Now(), startCPU(t.pid())
	s := b.client.RunSequential(ctx, t.URL, b.cfg.Invokes)
	p.sequential(s, time.Since(start))
	p.cpu(meter, len(s.Samples)+s.Errors)
	p.runtimes = t.Runtimes
	b.log.Info("measured", "target", t.Name, "clients", 1, "p50", Summarize(s.Samples).P50, "errors", s.Errors)
}

// throughput warms t up with Clients concurrent clients, then measures them for Duration.
func (b *bench) throughput(ctx context.Context, t *Target, p *pool) {
	b.client.CloseIdle()
	b.client.RunConcurrent(ctx, t.URL, b.cfg.Clients, b.cfg.WarmupDuration)
	meter := startCPU(t.pid())
	c := b.client.RunConcurrent(ctx, t.URL, b.cfg.Clients, b.cfg.Duration)
	p.concurrent(c)
	p.cpu(meter, c.Count+c.Errors)
	p.runtimes = t.Runtimes
	b.log.Info("measured", "target", t.Name, "clients", b.cfg.Clients, "rps", int(c.RPS()), "errors", c.Errors)
}

// RunWarm measures warm invokes: each target's one-client latency and floor's and Ember's
// throughput at Clients clients, every target started afresh in every round and stopped before
// the next starts, so no target's background work falls on another's figures.
func RunWarm(ctx context.Context, cfg Config, logger *slog.Logger) (*Report, error) {
	b, err := prepare(ctx, cfg, logger)
	if err != nil {
		return nil, err
	}
	rep := newReport("warm", cfg)
	var (
		floor1, floorN, rie1, ember1, emberN pool
		targets                              []string
	)
	if b.floor != "" {
		targets = append(targets, "floor")
	}
	if b.rie != "" {
		targets = append(targets, "rie")
	}
	if cfg.Ember != "" {
		targets = append(targets, "ember")
		ember1.skipped, emberN.skipped = b.emberErr, b.emberErr
	}
	for round := range cfg.Rounds {
		for i := range targets {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			name := targets[(i+round)%len(targets)]
			logger.Info("round", "n", round+1, "of", cfg.Rounds, "target", name)
			switch name {
			case "floor":
				if err := b.floorRound(ctx, &floor1, &floorN); err != nil {
					return nil, err
				}
			case "rie":
				if err := b.rieRound(ctx, &rie1); err != nil {
					return nil, err
				}
			case "ember":
				if ember1.skipped != nil {
					continue
				}
				if err := b.emberRound(ctx, &ember1, &emberN); err != nil {
					// Ember may not run yet; the others' figures still stand.
					logger.Warn("ember not measured", "err", err)
					ember1.skipped, emberN.skipped = err, err
				}
			}
		}
	}

	one := "1 client"
	many := fmt.Sprintf("%d clients", cfg.Clients)
	var fl1, flN Row
	if b.floor != "" {
		fl1, flN = floor1.row("floor", one, 1), floorN.row("floor", many, cfg.Clients)
		rep.Rows = append(rep.Rows, fl1)
	}
	if b.rie != "" {
		r := rie1.row("rie", one, 1)
		r.Note = join(r.Note, "serves one invoke at a time, so it is not run at more than one client")
		rep.Rows = append(rep.Rows, ratioP50(r, fl1, rie1.rounds, floor1.rounds))
	}
	if cfg.Ember != "" {
		r := ember1.row("ember", one, 1)
		r.Note = join(join(r.Note, b.emberNote()), b.logsNote())
		rep.Rows = append(rep.Rows, ratioP50(r, fl1, ember1.rounds, floor1.rounds))
	}
	if b.floor != "" {
		rep.Rows = append(rep.Rows, flN)
	}
	if cfg.Ember != "" {
		r := emberN.row("ember", many, cfg.Clients)
		r.Note = join(r.Note, b.emberNote())
		rep.Rows = append(rep.Rows, ratioRPS(r, flN, emberN.rounds, floorN.rounds))
	}
	return rep, nil
}

// emberNote says how the server was started, since its isolation backend is in its arguments.
func (b *bench) emberNote() string {
	note := strings.TrimSpace("ember server " + strings.Join(b.cfg.EmberArgs, " "))
	if b.isolation != "" {
		note += ", isolation " + b.isolation
	}
	return fmt.Sprintf("%s, MemorySize %d", note, b.cfg.MemorySize)
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// ratioP50 sets r's ratio to floor's p50, pooled and round by round (rounds and floorRounds).
func ratioP50(r, floor Row, rounds, floorRounds []float64) Row {
	if floor.P50Ms > 0 && r.P50Ms > 0 {
		r.Ratio, r.RatioTo = r.P50Ms/floor.P50Ms, "floor p50"
		r.RoundRatios = roundRatios(rounds, floorRounds)
	}
	return r
}

// ratioRPS sets r's ratio to floor's rate, pooled and round by round.
func ratioRPS(r, floor Row, rounds, floorRounds []float64) Row {
	if floor.RPS > 0 && r.RPS > 0 {
		r.Ratio, r.RatioTo = r.RPS/floor.RPS, "floor rps"
		r.RoundRatios = roundRatios(rounds, floorRounds)
	}
	return r
}

// roundRatios pairs the figures of the same round and divides them, leaving out rounds either
// side lacks (a target that stopped being measured) or that measured nothing.
func roundRatios(figures, ref []float64) []float64 {
	var out []float64
	for i := range min(len(figures), len(ref)) {
		if figures[i] > 0 && ref[i] > 0 {
			out = append(out, figures[i]/ref[i])
		}
	}
	return out
}

func (b *bench) floorRound(ctx context.Context, one, many *pool) error {
	t, err := StartFloor(ctx, b.floor, b.bootstrap, 1, b.cfg.WorkDir)
	if err != nil {
		return err
	}
	b.latency(ctx, t, one)
	t.Stop()
	t, err = StartFloor(ctx, b.floor, b.bootstrap, b.cfg.Clients, b.cfg.WorkDir)
	if err != nil {
		return err
	}
	b.throughput(ctx, t, many)
	t.Stop()
	return nil
}

func (b *bench) rieRound(ctx context.Context, one *pool) error {
	t, err := StartRIE(ctx, b.rie, b.bootstrap, b.cfg.WorkDir)
	if err != nil {
		return err
	}
	defer t.Stop()
	b.latency(ctx, t, one)
	return nil
}

// emberRound starts a fresh server, deploys the echo function, measures one client and then
// Clients clients (whose warm-up leaves the server as many warm sandboxes as it will keep).
func (b *bench) emberRound(ctx context.Context, one, many *pool) error {
	e, err := StartEmber(ctx, b.emberConfig())
	if err != nil {
		return err
	}
	defer e.Stop()
	b.isolation = e.Isolation
	t, err := e.Deploy(ctx, "bench-echo")
	if err != nil {
		return err
	}
	b.latency(ctx, t, one)
	b.throughput(ctx, t, many)
	c, err := e.LogCounters(ctx)
	if err != nil {
		b.logNote = "log counters not read: " + err.Error()
		return nil
	}
	b.logs.Dropped += c.Dropped
	b.logs.Failed += c.Failed
	b.logs.Spilled += c.Spilled
	b.logRounds++
	return nil
}

// logsNote reports the servers' log counters over the rounds, for Ember's rows.
func (b *bench) logsNote() string {
	if b.logRounds == 0 {
		return b.logNote
	}
	return fmt.Sprintf("ember_log_events_dropped_total %d (failed %d, spilled %d) over %d rounds", b.logs.Dropped, b.logs.Failed, b.logs.Spilled, b.logRounds)
}

// DefaultWorkDir makes a temporary directory for a run.
func DefaultWorkDir() (string, error) { return os.MkdirTemp("", "ember-bench-") }
