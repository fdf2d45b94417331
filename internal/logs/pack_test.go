package logs

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestConsecutiveEventsOfAStreamArePackedAndPagedOneByOne(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	base := time.Now().Add(-time.Minute)
	const n = 100
	for i := 0; i < n; i++ {
		s.Write(Event{Group: "/aws/lambda/p", Stream: "s", Time: base.Add(time.Duration(i) * time.Millisecond), Message: fmt.Sprint("event ", i)})
	}
	flush(t, s)
	info, err := s.stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs >= n {
		t.Errorf("%d events took %d messages; consecutive events of a stream should share packs", n, info.State.Msgs)
	}
	var got []string
	token := ""
	for pages := 0; pages < n; pages++ {
		out, err := s.GetLogEvents(ctx, GetLogEventsInput{LogGroupName: "/aws/lambda/p", LogStreamName: "s",
			StartFromHead: true, Limit: ptr(7), NextToken: token})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Events) == 0 {
			break
		}
		for _, e := range out.Events {
			got = append(got, e.Message)
		}
		token = out.NextForwardToken
	}
	if len(got) != n {
		t.Fatalf("paged %d events, want %d", len(got), n)
	}
	for i, m := range got {
		if m != fmt.Sprint("event ", i) {
			t.Fatalf("event %d is %q", i, m)
		}
	}
	fl, err := s.FilterLogEvents(ctx, FilterLogEventsInput{LogGroupName: "/aws/lambda/p", Limit: ptr(n)})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, e := range fl.Events {
		if seen[e.EventID] {
			t.Fatalf("eventId %s repeats", e.EventID)
		}
		seen[e.EventID] = true
	}
	if len(seen) != n {
		t.Errorf("%d distinct eventIds, want %d", len(seen), n)
	}
}

// The events of one Write are stored next to each other, so they share a pack however many
// other streams are written at the same time.
func TestTheEventsOfOneWriteStayTogether(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	const writers, rounds = 8, 25
	base := time.Now().Add(-time.Minute)
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stream := fmt.Sprint("s", w)
			for r := 0; r < rounds; r++ {
				ev := func(i int) Event {
					return Event{Group: "/aws/lambda/t", Stream: stream, Time: base.Add(time.Duration(r) * time.Millisecond), Message: fmt.Sprint(stream, " ", r, " ", i)}
				}
				s.Write(ev(0), ev(1), ev(2))
			}
		}()
	}
	wg.Wait()
	flush(t, s)
	info, err := s.stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs > writers*rounds {
		t.Errorf("%d writes of three events took %d messages; one write's events should share a pack", writers*rounds, info.State.Msgs)
	}
	out, err := s.FilterLogEvents(ctx, FilterLogEventsInput{LogGroupName: "/aws/lambda/t", Limit: ptr(writers * rounds * 3)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Events) != writers*rounds*3 {
		t.Fatalf("%d events stored, want %d", len(out.Events), writers*rounds*3)
	}
	for i := 0; i < len(out.Events); i += 3 {
		a, b, c := out.Events[i].Message, out.Events[i+1].Message, out.Events[i+2].Message
		if !strings.HasSuffix(a, " 0") || b != strings.TrimSuffix(a, "0")+"1" || c != strings.TrimSuffix(a, "0")+"2" {
			t.Fatalf("events %d to %d are %q, %q, %q: one write's events were split", i, i+2, a, b, c)
		}
	}
}

func TestAMalformedPackIsAnError(t *testing.T) {
	if err := unpack([]byte{0x80}, func(int, int64, string) bool { return true }); err == nil {
		t.Error("a truncated varint decoded")
	}
	if err := unpack([]byte{1, 50, 'x'}, func(int, int64, string) bool { return true }); err == nil {
		t.Error("a message longer than the pack decoded")
	}
}
