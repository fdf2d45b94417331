package logs

import (
	"context"
	"fmt"
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

func TestAMalformedPackIsAnError(t *testing.T) {
	if err := unpack([]byte{0x80}, func(int, int64, string) bool { return true }); err == nil {
		t.Error("a truncated varint decoded")
	}
	if err := unpack([]byte{1, 50, 'x'}, func(int, int64, string) bool { return true }); err == nil {
		t.Error("a message longer than the pack decoded")
	}
}
