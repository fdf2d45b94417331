package logs

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ember-serverless/ember/internal/state/statetest"
)

func TestConcurrentWritersAreAllStoredWhileQueriesRun(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	const writers, each = 8, 300
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				s.Write(Event{Group: "/aws/lambda/c", Stream: fmt.Sprintf("w%d", w), Message: fmt.Sprintf("writer %d line %d", w, i)})
			}
		}()
	}
	queryErr := make(chan error, 1)
	go func() {
		for range 5 {
			if _, err := s.DescribeLogGroups(ctx, DescribeLogGroupsInput{}); err != nil {
				queryErr <- err
				return
			}
		}
		queryErr <- nil
	}()
	wg.Wait()
	flush(t, s)
	if err := <-queryErr; err != nil {
		t.Fatal(err)
	}
	for w := range writers {
		in := GetLogEventsInput{LogGroupName: "/aws/lambda/c", LogStreamName: fmt.Sprintf("w%d", w), StartFromHead: true}
		out, err := s.GetLogEvents(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Events) != each {
			t.Fatalf("writer %d: %d events stored, want %d", w, len(out.Events), each)
		}
		for i, ev := range out.Events {
			if want := fmt.Sprintf("writer %d line %d", w, i); ev.Message != want {
				t.Fatalf("writer %d event %d is %q, want %q", w, i, ev.Message, want)
			}
		}
	}
	if st := s.Stats(); st.Stored != writers*each || st.Dropped != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// BenchmarkWrite measures what Write costs the invoke path.
func BenchmarkWrite(b *testing.B) {
	s, err := NewStore(context.Background(), statetest.New(b).JetStream(), StoreConfig{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close(context.Background())
	ev := Event{Group: "/aws/lambda/bench", Stream: "2026/11/23/[$LATEST]bench", Time: time.Now(), Message: "a typical log line of about sixty bytes, give or take"}
	b.ReportAllocs()
	for b.Loop() {
		s.Write(ev)
	}
	b.StopTimer()
	if err := s.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(s.Stats().Dropped), "dropped")
}
