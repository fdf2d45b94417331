package harness

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// RunCold measures cold starts, client-observed: Ember's first invoke of each of Functions
// distinct functions created beforehand; the emulator's first invoke after a fresh start (it
// starts its runtime on the first invoke); and, as the least any sandbox can cost, a bare
// fork+exec of the same bootstrap until it first connects to a Runtime API listener.
func RunCold(ctx context.Context, cfg Config, logger *slog.Logger) (*Report, error) {
	b, err := prepare(ctx, cfg, logger)
	if err != nil {
		return nil, err
	}
	rep := newReport("cold", cfg)

	logger.Info("fork+exec", "n", cfg.Functions)
	execSamples, err := forkExec(ctx, b.bootstrap, cfg.Functions)
	if err != nil {
		return nil, err
	}
	base := rowFromSummary(Row{Target: "exec", Phase: "fork+exec to connect", Clients: 1,
		Note: "exec.Command start of the bootstrap until it connects to the Runtime API listener"}, Summarize(execSamples))
	rep.Rows = append(rep.Rows, base)

	if b.rie != "" {
		logger.Info("rie cold starts", "n", cfg.Functions)
		var p pool
		for range cfg.Functions {
			if err := b.rieCold(ctx, &p); err != nil {
				return nil, err
			}
		}
		r := p.row("rie", "cold start", 1)
		r.Note = join(r.Note, "first invoke after the emulator listens; it starts the runtime then")
		rep.Rows = append(rep.Rows, ratioCold(r, base))
	}
	if cfg.Ember != "" {
		logger.Info("ember cold starts", "n", cfg.Functions)
		p := pool{skipped: b.emberErr}
		if p.skipped != nil {
			// Already reported.
		} else if err := b.emberCold(ctx, &p); err != nil {
			logger.Warn("ember not measured", "err", err)
			p.skipped = err
		}
		r := p.row("ember", "cold start", 1)
		r.Note = join(r.Note, fmt.Sprintf("first invoke of each of %d functions created beforehand; %s", cfg.Functions, b.emberNote()))
		rep.Rows = append(rep.Rows, ratioCold(r, base))
	}
	return rep, nil
}

func ratioCold(r, base Row) Row {
	r.RPS = 0 // a rate of one-off invokes means nothing
	if base.P50Ms > 0 && r.P50Ms > 0 {
		r.Ratio, r.RatioTo = r.P50Ms/base.P50Ms, "fork+exec p50"
	}
	return r
}

// forkExec starts bootstrap n times, each time timing from just before the start until the
// runtime connects to a listener given as its AWS_LAMBDA_RUNTIME_API, then kills it.
func forkExec(ctx context.Context, bootstrap string, n int) ([]time.Duration, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	defer ln.Close()
	env := append(os.Environ(), "AWS_LAMBDA_RUNTIME_API="+ln.Addr().String(),
		"AWS_LAMBDA_FUNCTION_NAME=echo", "AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128", "_HANDLER=bootstrap")
	samples := make([]time.Duration, 0, n)
	for range n {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		cmd := exec.Command(bootstrap)
		cmd.Env, cmd.Dir = env, filepath.Dir(bootstrap)
		start := time.Now()
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		d, err := AcceptAndKill(ln, cmd, start)
		if err != nil {
			return nil, err
		}
		samples = append(samples, d)
	}
	return samples, nil
}

// AcceptAndKill waits up to 10 s for the runtime cmd, started at start, to connect to ln,
// its Runtime API; then it kills the runtime and returns how long it took to connect.
func AcceptAndKill(ln net.Listener, cmd *exec.Cmd, start time.Time) (time.Duration, error) {
	_ = ln.(*net.TCPListener).SetDeadline(time.Now().Add(10 * time.Second))
	conn, err := ln.Accept()
	d := time.Since(start)
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if err != nil {
		return 0, fmt.Errorf("bootstrap never connected: %w", err)
	}
	conn.Close()
	return d, nil
}

// rieCold starts a fresh emulator and times its first invoke.
func (b *bench) rieCold(ctx context.Context, p *pool) error {
	t, err := StartRIE(ctx, b.rie, b.bootstrap, b.cfg.WorkDir)
	if err != nil {
		return err
	}
	defer t.Stop()
	b.client.CloseIdle()
	b.once(ctx, t.URL, p)
	return nil
}

// emberCold creates Functions functions, waits for every one to be Active, then invokes each
// once.
func (b *bench) emberCold(ctx context.Context, p *pool) error {
	e, err := StartEmber(ctx, b.emberConfig())
	if err != nil {
		return err
	}
	defer e.Stop()
	b.isolation = e.Isolation
	var targets []*Target
	for i := range b.cfg.Functions {
		t, err := e.Deploy(ctx, fmt.Sprintf("bench-cold-%d", i))
		if err != nil {
			return err
		}
		targets = append(targets, t)
	}
	for _, t := range targets {
		b.once(ctx, t.URL, p)
	}
	return nil
}

func (b *bench) once(ctx context.Context, url string, p *pool) {
	start := time.Now()
	d, err := b.client.Invoke(ctx, url)
	s := Sequential{}
	if err != nil {
		s.Errors, s.FirstErr = 1, err
	} else {
		s.Samples = []time.Duration{d}
	}
	p.sequential(s, time.Since(start))
}
