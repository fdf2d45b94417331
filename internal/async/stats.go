package async

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// counters are one function's running totals.
type counters struct {
	received, succeeded, functionErrors, retried, dropped, failed, destinations, deadLetters, duplicates atomic.Int64
}

type statsTable struct{ m sync.Map }

func (t *statsTable) of(function string) *counters {
	if c, ok := t.m.Load(function); ok {
		return c.(*counters)
	}
	c, _ := t.m.LoadOrStore(function, &counters{})
	return c.(*counters)
}

// FunctionStats is one function's queue and totals since the server started.
type FunctionStats struct {
	Function string
	// Depth is how many events (and pending deliveries) are queued or running.
	Depth uint64
	// OldestAge is the age of the oldest of them.
	OldestAge time.Duration
	// Received counts events accepted; Succeeded and FunctionErrors count runs by outcome;
	// Retried counts retries scheduled (function errors, throttles, system errors); Dropped
	// counts events dropped (expired, or of a deleted function); Failed counts events that
	// failed for good; Destinations and DeadLetters count records and events delivered;
	// Duplicates counts runs of an event whose earlier run was never settled.
	Received, Succeeded, FunctionErrors, Retried, Dropped, Failed, Destinations, DeadLetters, Duplicates int64
}

// Stats reads every function's queue from the stream and its totals from memory.
func (s *Service) Stats(ctx context.Context) ([]FunctionStats, error) {
	info, err := s.queue.stream.Info(ctx, jetstream.WithSubjectFilter(SubjectPrefix+">"))
	if err != nil {
		return nil, err
	}
	byFn := map[string]*FunctionStats{}
	get := func(fn string) *FunctionStats {
		if f, ok := byFn[fn]; ok {
			return f
		}
		f := &FunctionStats{Function: fn}
		byFn[fn] = f
		return f
	}
	now := s.cfg.Now()
	for subj, n := range info.State.Subjects {
		f := get(strings.TrimPrefix(subj, SubjectPrefix))
		f.Depth = n
		if m, err := s.queue.stream.GetMsg(ctx, info.State.FirstSeq, jetstream.WithGetMsgSubject(subj)); err == nil {
			if ns, err := strconv.ParseInt(m.Header.Get(hdrReceived), 10, 64); err == nil {
				f.OldestAge = max(now.Sub(time.Unix(0, ns)), 0)
			}
		}
	}
	s.stats.m.Range(func(k, v any) bool {
		f, c := get(k.(string)), v.(*counters)
		f.Received, f.Succeeded, f.FunctionErrors = c.received.Load(), c.succeeded.Load(), c.functionErrors.Load()
		f.Retried, f.Dropped, f.Failed = c.retried.Load(), c.dropped.Load(), c.failed.Load()
		f.Destinations, f.DeadLetters, f.Duplicates = c.destinations.Load(), c.deadLetters.Load(), c.duplicates.Load()
		return true
	})
	out := make([]FunctionStats, 0, len(byFn))
	for _, f := range byFn {
		out = append(out, *f)
	}
	slices.SortFunc(out, func(a, b FunctionStats) int { return strings.Compare(a.Function, b.Function) })
	return out, nil
}

// FunctionQueue is one function's queue and totals (zero when it has none).
func (s *Service) FunctionQueue(ctx context.Context, function string) (FunctionStats, error) {
	all, err := s.Stats(ctx)
	if err != nil {
		return FunctionStats{}, err
	}
	for _, f := range all {
		if f.Function == function {
			return f, nil
		}
	}
	return FunctionStats{Function: function}, nil
}
