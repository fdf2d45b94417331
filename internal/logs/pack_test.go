package logs

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ember-serverless/ember/internal/state/statetest"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
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

// At 16 clients a function has 16 sandboxes, each its own log stream: what they write while
// a batch gathers goes out as one message, not one per stream.
func TestTheEventsOfManyStreamsOfAGroupShareAMessage(t *testing.T) {
	js := newGatedJS(t)
	s := openStore(t, js, StoreConfig{})
	ctx := context.Background()
	s.Write(numbered("first", 0))
	js.waitEntered(t)
	// While the publisher is held, sixteen sandboxes write an invocation's lines each.
	const streams, lines = 16, 4
	for i := range lines {
		for st := range streams {
			s.Write(numbered(fmt.Sprint("s", st), i))
		}
	}
	close(js.gate)
	flush(t, s)
	info, err := s.stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 2 {
		t.Errorf("%d events of %d streams took %d messages, want 2 (the first event, then one pack)", 1+streams*lines, streams, info.State.Msgs)
	}
	for st := range streams {
		name := fmt.Sprint("s", st)
		want := make([]string, lines)
		for i := range want {
			want[i] = numbered(name, i).Message
		}
		if got := streamMessages(t, s, "/g", name); !slices.Equal(got, want) {
			t.Fatalf("stream %s: %q, want %q", name, got, want)
		}
	}
	out, err := s.DescribeLogStreams(ctx, DescribeLogStreamsInput{LogGroupName: "/g"})
	if err != nil || len(out.LogStreams) != streams+1 {
		t.Fatalf("streams %+v, %v; want %d", out, err, streams+1)
	}
	fl, err := s.FilterLogEvents(ctx, FilterLogEventsInput{LogGroupName: "/g", LogStreamNames: []string{"s3", "s7"}})
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := range lines {
		want = append(want, numbered("s3", i).Message, numbered("s7", i).Message)
	}
	if got := filteredMessages(fl.Events); !slices.Equal(got, want) {
		t.Fatalf("two streams' events %q, want %q in stored order", got, want)
	}
}

// legacyMsg is a message as stores before format 2 wrote it: one event, or a format 1 pack
// of one stream's events.
func legacyMsg(sub subjects, group, stream string, evs ...Event) *nats.Msg {
	m := &nats.Msg{Subject: sub.legacyStream(group, stream), Header: nats.Header{}}
	m.Header.Set(timeHeader, strconv.FormatInt(evs[0].Time.UnixMilli(), 10))
	if len(evs) == 1 {
		m.Data = []byte(evs[0].Message)
		return m
	}
	m.Header.Set(packHeader, packVersion1)
	m.Header.Set(lastTimeHeader, strconv.FormatInt(evs[len(evs)-1].Time.UnixMilli(), 10))
	for _, ev := range evs {
		m.Data = binary.AppendUvarint(m.Data, uint64(ev.Time.UnixMilli()))
		m.Data = binary.AppendUvarint(m.Data, uint64(len(ev.Message)))
		m.Data = append(m.Data, ev.Message...)
	}
	return m
}

func TestEventsStoredInTheFirstFormatAreStillRead(t *testing.T) {
	js := statetest.New(t).JetStream()
	s := openStore(t, js, StoreConfig{})
	ctx := context.Background()
	base := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	ev := func(stream string, i int) Event {
		return Event{Group: "/aws/lambda/old", Stream: stream, Time: base.Add(time.Duration(i) * time.Millisecond), Message: fmt.Sprint(stream, " event ", i)}
	}
	for _, m := range []*nats.Msg{
		legacyMsg(s.subj, "/aws/lambda/old", "a", ev("a", 0)),
		legacyMsg(s.subj, "/aws/lambda/old", "a", ev("a", 1), ev("a", 2)),
		legacyMsg(s.subj, "/aws/lambda/old", "b", ev("b", 3)),
	} {
		if _, err := js.PublishMsg(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	s.Write(ev("a", 4), ev("b", 5))
	flush(t, s)

	if got, want := streamMessages(t, s, "/aws/lambda/old", "a"), []string{"a event 0", "a event 1", "a event 2", "a event 4"}; !slices.Equal(got, want) {
		t.Fatalf("stream a: %q, want %q", got, want)
	}
	fl, err := s.FilterLogEvents(ctx, FilterLogEventsInput{LogGroupName: "/aws/lambda/old"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := filteredMessages(fl.Events), []string{"a event 0", "a event 1", "a event 2", "b event 3", "a event 4", "b event 5"}; !slices.Equal(got, want) {
		t.Fatalf("group: %q, want %q", got, want)
	}
	ids := map[string]bool{}
	for _, e := range fl.Events {
		ids[e.EventID] = true
	}
	if len(ids) != len(fl.Events) {
		t.Fatalf("eventIds %v repeat", ids)
	}
	out, err := s.DescribeLogStreams(ctx, DescribeLogStreamsInput{LogGroupName: "/aws/lambda/old"})
	if err != nil || len(out.LogStreams) != 2 {
		t.Fatalf("streams %+v, %v", out, err)
	}
	a := out.LogStreams[0]
	if a.LogStreamName != "a" || a.FirstEventTimestamp != ev("a", 0).Time.UnixMilli() || a.LastEventTimestamp != ev("a", 4).Time.UnixMilli() {
		t.Fatalf("stream a is described as %+v, want its first and last events' times across both formats", a)
	}

	if err := s.DeleteLogGroup(ctx, DeleteLogGroupInput{LogGroupName: "/aws/lambda/old"}); err != nil {
		t.Fatal(err)
	}
	if info, err := s.stream.Info(ctx); err != nil || info.State.Msgs != 0 {
		t.Fatalf("after deleting the group: %+v, %v; want no messages of either format", info, err)
	}
}

// Events leave the stream by age or size; the index forgets the streams that had only those.
func TestStreamsWhoseEventsAllLeftTheStoreAreForgotten(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	s.Write(numbered("old", 0))
	flush(t, s)
	s.Write(numbered("old", 1), numbered("new", 0))
	flush(t, s)
	if out, err := s.DescribeLogStreams(ctx, DescribeLogStreamsInput{LogGroupName: "/g"}); err != nil || len(out.LogStreams) != 2 {
		t.Fatalf("streams %+v, %v; want old and new", out, err)
	}
	// The first message ages out: "old" still has an event in the second.
	if err := s.stream.Purge(ctx, jetstream.WithPurgeSequence(2)); err != nil {
		t.Fatal(err)
	}
	if out, err := s.DescribeLogStreams(ctx, DescribeLogStreamsInput{LogGroupName: "/g"}); err != nil || len(out.LogStreams) != 2 {
		t.Fatalf("streams %+v, %v; want old and new", out, err)
	}
	s.Write(numbered("newer", 0))
	flush(t, s)
	if err := s.stream.Purge(ctx, jetstream.WithPurgeSequence(3)); err != nil {
		t.Fatal(err)
	}
	out, err := s.DescribeLogStreams(ctx, DescribeLogStreamsInput{LogGroupName: "/g"})
	if err != nil || len(out.LogStreams) != 1 || out.LogStreams[0].LogStreamName != "newer" {
		t.Fatalf("streams %+v, %v; want only newer", out, err)
	}
}
