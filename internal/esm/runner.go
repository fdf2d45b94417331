package esm

import (
	"context"
	"errors"
	"time"

	"github.com/ember-serverless/ember/internal/esm/filter"
)

// runner is the poller of one enabled mapping: it opens the mapping's source and runs one loop
// per lane.
type runner struct {
	cancel context.CancelFunc
	done   chan struct{}
}

func (r *runner) stop() {
	r.cancel()
	<-r.done
}

func (s *Service) newRunner(m *Mapping) *runner {
	ctx, cancel := context.WithCancel(s.ctx)
	r := &runner{cancel: cancel, done: make(chan struct{})}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(r.done)
		s.run(ctx, m)
	}()
	return r
}

func (s *Service) openSource(ctx context.Context, m *Mapping) (Source, error) {
	env := SourceEnv{JetStream: s.cfg.JetStream, Region: s.cfg.ARNs.Region, AccountID: s.cfg.ARNs.AccountID,
		AckWait: s.cfg.AckWait, SecretsDir: s.cfg.SecretsDir, Logger: s.logger.With("uuid", m.UUID)}
	if m.Kind() == KindJetStream {
		return openJetStream(ctx, m, env)
	}
	f := s.cfg.Sources[m.Kind()]
	if f == nil {
		return nil, errors.New("this server has no " + string(m.Kind()) + " source")
	}
	return f(ctx, m, env)
}

// run polls the mapping's source until ctx ends.
func (s *Service) run(ctx context.Context, m *Mapping) {
	log := s.logger.With("uuid", m.UUID, "function", m.Function)
	st := s.stats.of(m.UUID)
	criteria, err := filter.CompileAll(m.Patterns())
	if err != nil { // checked at create; a stored one is trusted, but not blindly
		log.Error("the mapping's filters do not compile; not polling", "err", err)
		st.result("PROBLEM: Invalid filter criteria")
		return
	}
	var src Source
	for delay := s.cfg.ThrottleBaseDelay; ; delay = min(delay*2, MaxRetryDelay) {
		src, err = s.openSource(ctx, m)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return
		}
		log.Warn("could not open the event source; retrying", "err", err)
		st.result("PROBLEM: Connection error. " + err.Error())
		if !sleep(ctx, delay) {
			return
		}
	}
	defer src.Close()
	st.setPending(src.Pending)
	defer st.setPending(nil)
	lanes := src.Lanes()
	var sem chan struct{}
	if c := m.MaxConcurrency(); c > 0 && c < lanes {
		sem = make(chan struct{}, c)
	}
	done := make(chan struct{}, lanes)
	for lane := range lanes {
		go func() {
			defer func() { done <- struct{}{} }()
			p := &processor{s: s, m: m, src: src, criteria: criteria, log: log.With("lane", lane), st: st, sem: sem}
			p.loop(ctx, lane)
		}()
	}
	for range lanes {
		<-done
	}
}

// sleep waits d or until ctx ends; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
