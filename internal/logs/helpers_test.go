package logs

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ember-serverless/ember/internal/state/statetest"
	"github.com/nats-io/nats.go/jetstream"
)

// openStore opens a Store on js that is closed when the test ends.
func openStore(t *testing.T, js jetstream.JetStream, cfg StoreConfig) *Store {
	t.Helper()
	s, err := NewStore(context.Background(), js, cfg, nil)
	if err != nil {
		t.Fatalf("NewStore: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = s.Close(ctx)
	})
	return s
}

func newTestStore(t *testing.T) *Store {
	t.Helper()
	return openStore(t, statetest.New(t).JetStream(), StoreConfig{})
}

func flush(t *testing.T, s *Store) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
}

func ptr[T any](v T) *T { return &v }

// fixture is a set of events written across groups and streams, one millisecond apart.
type fixture struct {
	base   time.Time
	events []Event
}

func (f fixture) ms(i int) int64 { return f.base.Add(time.Duration(i) * time.Millisecond).UnixMilli() }

// writeFixture writes perStream events to each of streams a/1, a/2, b/1 (groups
// /aws/lambda/a and /aws/lambda/b), interleaved, and flushes.
func writeFixture(t *testing.T, s *Store, perStream int) fixture {
	t.Helper()
	f := fixture{base: time.Now().Add(-2 * time.Minute).Truncate(time.Millisecond)}
	targets := []struct{ group, stream string }{
		{"/aws/lambda/a", "2026/11/23/[$LATEST]one"},
		{"/aws/lambda/a", "2026/11/23/[$LATEST]two"},
		{"/aws/lambda/b", "2026/11/23/[$LATEST]one"},
	}
	i := 0
	for n := 0; n < perStream; n++ {
		for _, tg := range targets {
			msg := fmt.Sprintf("line %d of %s", n, tg.stream)
			switch n % 3 {
			case 1:
				msg = fmt.Sprintf("ERROR request %d failed: timed out", n)
			case 2:
				msg = fmt.Sprintf("INFO request %d done", n)
			}
			ev := Event{Group: tg.group, Stream: tg.stream, Time: time.UnixMilli(f.ms(i)), Message: msg}
			f.events = append(f.events, ev)
			s.Write(ev)
			i++
		}
	}
	flush(t, s)
	return f
}

// of returns the fixture's events in one group (and stream, if not empty), in write order.
func (f fixture) of(group, stream string) []Event {
	var out []Event
	for _, ev := range f.events {
		if ev.Group == group && (stream == "" || ev.Stream == stream) {
			out = append(out, ev)
		}
	}
	return out
}
