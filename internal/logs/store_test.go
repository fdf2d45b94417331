package logs

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/ember-serverless/ember/internal/state/statetest"
)

func messages[T any](evs []T, msg func(T) string) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = msg(ev)
	}
	return out
}

func eventMessages(evs []Event) []string {
	return messages(evs, func(e Event) string { return e.Message })
}

func filteredMessages(evs []FilteredLogEvent) []string {
	return messages(evs, func(e FilteredLogEvent) string { return e.Message })
}

func outputMessages(evs []OutputLogEvent) []string {
	return messages(evs, func(e OutputLogEvent) string { return e.Message })
}

func TestDescribeLogGroupsListsGroupsCreatedByTheirFirstEvent(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	writeFixture(t, s, 3)

	tests := []struct {
		name string
		in   DescribeLogGroupsInput
		want []string
	}{
		{"all groups in name order", DescribeLogGroupsInput{}, []string{"/aws/lambda/a", "/aws/lambda/b"}},
		{"a prefix narrows the list", DescribeLogGroupsInput{LogGroupNamePrefix: "/aws/lambda/b"}, []string{"/aws/lambda/b"}},
		{"a prefix matching nothing gives an empty list", DescribeLogGroupsInput{LogGroupNamePrefix: "/nope"}, []string{}},
		{"a pattern matches anywhere, ignoring case", DescribeLogGroupsInput{LogGroupNamePattern: "LAMBDA/A"}, []string{"/aws/lambda/a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := s.DescribeLogGroups(ctx, tt.in)
			if err != nil {
				t.Fatal(err)
			}
			got := messages(out.LogGroups, func(g LogGroup) string { return g.LogGroupName })
			if !slices.Equal(got, tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
			for _, g := range out.LogGroups {
				if g.CreationTime == 0 || g.Arn != "arn:aws:logs:us-east-1:000000000000:log-group:"+g.LogGroupName+":*" {
					t.Errorf("group %+v lacks a creation time or has the wrong ARN", g)
				}
			}
		})
	}

	t.Run("a limit pages through the groups with nextToken", func(t *testing.T) {
		var got []string
		in := DescribeLogGroupsInput{Limit: ptr(1)}
		for page := 0; ; page++ {
			out, err := s.DescribeLogGroups(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, messages(out.LogGroups, func(g LogGroup) string { return g.LogGroupName })...)
			if out.NextToken == "" {
				break
			}
			if page > 5 {
				t.Fatal("pagination does not end")
			}
			in.NextToken = out.NextToken
		}
		if want := []string{"/aws/lambda/a", "/aws/lambda/b"}; !slices.Equal(got, want) {
			t.Fatalf("got %q, want %q", got, want)
		}
	})
}

func TestDescribeLogStreamsOrdersAndPagesStreams(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	f := writeFixture(t, s, 3)
	const one, two = "2026/11/23/[$LATEST]one", "2026/11/23/[$LATEST]two"

	tests := []struct {
		name string
		in   DescribeLogStreamsInput
		want []string
	}{
		{"by name by default", DescribeLogStreamsInput{LogGroupName: "/aws/lambda/a"}, []string{one, two}},
		{"by name descending", DescribeLogStreamsInput{LogGroupName: "/aws/lambda/a", Descending: true}, []string{two, one}},
		{"by last event time descending", DescribeLogStreamsInput{LogGroupName: "/aws/lambda/a", OrderBy: "LastEventTime", Descending: true}, []string{two, one}},
		{"with a prefix", DescribeLogStreamsInput{LogGroupName: "/aws/lambda/a", LogStreamNamePrefix: "2026/11/23/[$LATEST]t"}, []string{two}},
		{"by group ARN", DescribeLogStreamsInput{LogGroupIdentifier: "arn:aws:logs:us-east-1:000000000000:log-group:/aws/lambda/b:*"}, []string{one}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := s.DescribeLogStreams(ctx, tt.in)
			if err != nil {
				t.Fatal(err)
			}
			got := messages(out.LogStreams, func(st LogStream) string { return st.LogStreamName })
			if !slices.Equal(got, tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}

	t.Run("streams carry their first and last event times", func(t *testing.T) {
		out, err := s.DescribeLogStreams(ctx, DescribeLogStreamsInput{LogGroupName: "/aws/lambda/a"})
		if err != nil {
			t.Fatal(err)
		}
		evs := f.of("/aws/lambda/a", one)
		st := out.LogStreams[0]
		if st.FirstEventTimestamp != evs[0].Time.UnixMilli() || st.LastEventTimestamp != evs[len(evs)-1].Time.UnixMilli() {
			t.Fatalf("stream %+v: want first %d, last %d", st, evs[0].Time.UnixMilli(), evs[len(evs)-1].Time.UnixMilli())
		}
		if st.CreationTime == 0 || st.LastIngestionTime == 0 || !strings.HasSuffix(st.Arn, ":log-group:/aws/lambda/a:log-stream:"+one) {
			t.Fatalf("stream %+v lacks times or has the wrong ARN", st)
		}
	})

	t.Run("a limit pages through the streams", func(t *testing.T) {
		out, err := s.DescribeLogStreams(ctx, DescribeLogStreamsInput{LogGroupName: "/aws/lambda/a", Limit: ptr(1)})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.LogStreams) != 1 || out.NextToken == "" {
			t.Fatalf("first page %+v: want one stream and a token", out)
		}
		out2, err := s.DescribeLogStreams(ctx, DescribeLogStreamsInput{LogGroupName: "/aws/lambda/a", Limit: ptr(1), NextToken: out.NextToken})
		if err != nil {
			t.Fatal(err)
		}
		if len(out2.LogStreams) != 1 || out2.LogStreams[0].LogStreamName != two || out2.NextToken != "" {
			t.Fatalf("second page %+v: want %q and no token", out2, two)
		}
	})

	errTests := []struct {
		name string
		in   DescribeLogStreamsInput
		want error
	}{
		{"a missing group is ResourceNotFound", DescribeLogStreamsInput{LogGroupName: "/aws/lambda/none"}, ErrGroupNotFound},
		{"ordering by time with a prefix is refused", DescribeLogStreamsInput{LogGroupName: "/aws/lambda/a", OrderBy: "LastEventTime", LogStreamNamePrefix: "x"}, &Error{Type: InvalidParameter}},
		{"an unknown order is refused", DescribeLogStreamsInput{LogGroupName: "/aws/lambda/a", OrderBy: "Size"}, &Error{Type: InvalidParameter}},
		{"a garbled token is refused", DescribeLogStreamsInput{LogGroupName: "/aws/lambda/a", NextToken: "!!"}, ErrInvalidToken},
	}
	for _, tt := range errTests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.DescribeLogStreams(ctx, tt.in)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestGetLogEventsReadsOneStreamBothWays(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	f := writeFixture(t, s, 10)
	const group, stream = "/aws/lambda/a", "2026/11/23/[$LATEST]one"
	all := eventMessages(f.of(group, stream))

	t.Run("without a token it returns the newest events", func(t *testing.T) {
		out, err := s.GetLogEvents(ctx, GetLogEventsInput{LogGroupName: group, LogStreamName: stream, Limit: ptr(3)})
		if err != nil {
			t.Fatal(err)
		}
		if got := outputMessages(out.Events); !slices.Equal(got, all[7:]) {
			t.Fatalf("got %q, want %q", got, all[7:])
		}
	})

	t.Run("startFromHead pages forward until the token comes back unchanged", func(t *testing.T) {
		var got []string
		in := GetLogEventsInput{LogGroupName: group, LogStreamName: stream, Limit: ptr(4), StartFromHead: true}
		for page := 0; ; page++ {
			out, err := s.GetLogEvents(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, outputMessages(out.Events)...)
			if out.NextForwardToken == in.NextToken {
				if len(out.Events) != 0 {
					t.Fatalf("an unchanged token came with %d events", len(out.Events))
				}
				break
			}
			if page > 10 {
				t.Fatal("pagination does not end")
			}
			in.NextToken = out.NextForwardToken
		}
		if !slices.Equal(got, all) {
			t.Fatalf("got %q, want %q", got, all)
		}
	})

	t.Run("backward tokens page toward the oldest event", func(t *testing.T) {
		var pages [][]string
		in := GetLogEventsInput{LogGroupName: group, LogStreamName: stream, Limit: ptr(4)}
		for page := 0; ; page++ {
			out, err := s.GetLogEvents(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			if len(out.Events) == 0 {
				if out.NextBackwardToken != in.NextToken {
					t.Fatalf("at the start got backward token %q, want %q again", out.NextBackwardToken, in.NextToken)
				}
				break
			}
			pages = append([][]string{outputMessages(out.Events)}, pages...)
			if page > 10 {
				t.Fatal("pagination does not end")
			}
			in.NextToken = out.NextBackwardToken
		}
		if got := slices.Concat(pages...); !slices.Equal(got, all) {
			t.Fatalf("got %q, want %q", got, all)
		}
	})

	t.Run("a time window keeps startTime and drops endTime", func(t *testing.T) {
		evs := f.of(group, stream)
		out, err := s.GetLogEvents(ctx, GetLogEventsInput{
			LogGroupName: group, LogStreamName: stream, StartFromHead: true,
			StartTime: ptr(evs[2].Time.UnixMilli()), EndTime: ptr(evs[5].Time.UnixMilli()),
		})
		if err != nil {
			t.Fatal(err)
		}
		if got := outputMessages(out.Events); !slices.Equal(got, all[2:5]) {
			t.Fatalf("got %q, want %q", got, all[2:5])
		}
		for i, ev := range out.Events {
			if ev.Timestamp != evs[2+i].Time.UnixMilli() || ev.IngestionTime < ev.Timestamp {
				t.Errorf("event %d: timestamp %d ingestion %d, want timestamp %d", i, ev.Timestamp, ev.IngestionTime, evs[2+i].Time.UnixMilli())
			}
		}
	})

	errTests := []struct {
		name string
		in   GetLogEventsInput
		want error
	}{
		{"a missing stream is ResourceNotFound", GetLogEventsInput{LogGroupName: group, LogStreamName: "nope"}, ErrStreamNotFound},
		{"a missing group is ResourceNotFound", GetLogEventsInput{LogGroupName: "/nope", LogStreamName: stream}, ErrGroupNotFound},
		{"a garbled token is refused", GetLogEventsInput{LogGroupName: group, LogStreamName: stream, NextToken: "x/1"}, ErrInvalidToken},
		{"a limit over 10000 is refused", GetLogEventsInput{LogGroupName: group, LogStreamName: stream, Limit: ptr(10001)}, &Error{Type: InvalidParameter}},
	}
	for _, tt := range errTests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.GetLogEvents(ctx, tt.in)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestFilterLogEventsSearchesAGroup(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	f := writeFixture(t, s, 9)
	const group = "/aws/lambda/a"
	evs := f.of(group, "")
	pick := func(keep func(Event) bool) []string {
		var out []string
		for _, ev := range evs {
			if keep(ev) {
				out = append(out, ev.Message)
			}
		}
		return out
	}

	tests := []struct {
		name string
		in   FilterLogEventsInput
		want []string
	}{
		{"no pattern returns every event of the group in order", FilterLogEventsInput{LogGroupName: group},
			pick(func(Event) bool { return true })},
		{"a term matches events containing it", FilterLogEventsInput{LogGroupName: group, FilterPattern: "ERROR"},
			pick(func(e Event) bool { return strings.Contains(e.Message, "ERROR") })},
		{"terms must all appear", FilterLogEventsInput{LogGroupName: group, FilterPattern: "request 4"},
			pick(func(e Event) bool { return strings.Contains(e.Message, "request") && strings.Contains(e.Message, "4") })},
		{"a quoted phrase matches as written", FilterLogEventsInput{LogGroupName: group, FilterPattern: `"request 4 failed"`},
			pick(func(e Event) bool { return strings.Contains(e.Message, "request 4 failed") })},
		{"matching is case-sensitive", FilterLogEventsInput{LogGroupName: group, FilterPattern: "error"}, nil},
		{"a stream name list narrows the search", FilterLogEventsInput{LogGroupName: group, LogStreamNames: []string{"2026/11/23/[$LATEST]two"}},
			pick(func(e Event) bool { return e.Stream == "2026/11/23/[$LATEST]two" })},
		{"a stream name prefix narrows the search", FilterLogEventsInput{LogGroupName: group, LogStreamNamePrefix: "2026/11/23/[$LATEST]o"},
			pick(func(e Event) bool { return e.Stream == "2026/11/23/[$LATEST]one" })},
		{"a time window keeps startTime and drops endTime", FilterLogEventsInput{LogGroupName: group,
			StartTime: ptr(evs[3].Time.UnixMilli()), EndTime: ptr(evs[6].Time.UnixMilli())},
			pick(func(e Event) bool { return !e.Time.Before(evs[3].Time) && e.Time.Before(evs[6].Time) })},
		{"the group may be named by ARN", FilterLogEventsInput{LogGroupIdentifier: "arn:aws:logs:us-east-1:000000000000:log-group:/aws/lambda/b"},
			eventMessages(f.of("/aws/lambda/b", ""))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := s.FilterLogEvents(ctx, tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if got := filteredMessages(out.Events); !slices.Equal(got, tt.want) && (len(got) != 0 || len(tt.want) != 0) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
			if out.NextToken != "" {
				t.Fatalf("a complete answer came with nextToken %q", out.NextToken)
			}
		})
	}

	t.Run("a limit pages through every event once with stable ids", func(t *testing.T) {
		var got []FilteredLogEvent
		in := FilterLogEventsInput{LogGroupName: group, Limit: ptr(4)}
		for page := 0; ; page++ {
			out, err := s.FilterLogEvents(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, out.Events...)
			if out.NextToken == "" {
				break
			}
			if page > 20 {
				t.Fatal("pagination does not end")
			}
			in.NextToken = out.NextToken
		}
		if want := eventMessages(evs); !slices.Equal(filteredMessages(got), want) {
			t.Fatalf("got %q, want %q", filteredMessages(got), want)
		}
		again, err := s.FilterLogEvents(ctx, FilterLogEventsInput{LogGroupName: group})
		if err != nil {
			t.Fatal(err)
		}
		for i, ev := range again.Events {
			if ev.EventID != got[i].EventID || ev.EventID == "" {
				t.Fatalf("event %d has id %q, earlier %q", i, ev.EventID, got[i].EventID)
			}
			if ev.LogStreamName != evs[i].Stream || ev.Timestamp != evs[i].Time.UnixMilli() {
				t.Fatalf("event %d is %+v, want stream %q time %d", i, ev, evs[i].Stream, evs[i].Time.UnixMilli())
			}
		}
	})

	errTests := []struct {
		name string
		in   FilterLogEventsInput
		want error
	}{
		{"a missing group is ResourceNotFound", FilterLogEventsInput{LogGroupName: "/aws/lambda/none"}, ErrGroupNotFound},
		{"names and a prefix together are refused", FilterLogEventsInput{LogGroupName: group, LogStreamNames: []string{"a"}, LogStreamNamePrefix: "a"}, &Error{Type: InvalidParameter}},
		{"an unterminated quote is refused", FilterLogEventsInput{LogGroupName: group, FilterPattern: `"oops`}, &Error{Type: InvalidParameter}},
		{"no group at all is refused", FilterLogEventsInput{}, &Error{Type: InvalidParameter}},
	}
	for _, tt := range errTests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.FilterLogEvents(ctx, tt.in)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestLogsSurviveARestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st := statetest.NewIn(t, dir)
	s, err := NewStore(ctx, st.JetStream(), StoreConfig{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	f := writeFixture(t, s, 4)
	if err := s.CreateLogGroup(ctx, CreateLogGroupInput{LogGroupName: "/empty"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	st.Close()

	s2 := openStore(t, statetest.NewIn(t, dir).JetStream(), StoreConfig{})
	groups, err := s2.DescribeLogGroups(ctx, DescribeLogGroupsInput{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := messages(groups.LogGroups, func(g LogGroup) string { return g.LogGroupName }), []string{"/aws/lambda/a", "/aws/lambda/b", "/empty"}; !slices.Equal(got, want) {
		t.Fatalf("groups after restart %q, want %q", got, want)
	}
	streams, err := s2.DescribeLogStreams(ctx, DescribeLogStreamsInput{LogGroupName: "/aws/lambda/a", OrderBy: "LastEventTime"})
	if err != nil {
		t.Fatal(err)
	}
	one := f.of("/aws/lambda/a", "2026/11/23/[$LATEST]one")
	if len(streams.LogStreams) != 2 || streams.LogStreams[0].FirstEventTimestamp != one[0].Time.UnixMilli() ||
		streams.LogStreams[0].LastEventTimestamp != one[len(one)-1].Time.UnixMilli() {
		t.Fatalf("streams after restart %+v", streams.LogStreams)
	}
	out, err := s2.FilterLogEvents(ctx, FilterLogEventsInput{LogGroupName: "/aws/lambda/a"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := filteredMessages(out.Events), eventMessages(f.of("/aws/lambda/a", "")); !slices.Equal(got, want) {
		t.Fatalf("events after restart %q, want %q", got, want)
	}
}

func TestCreateAndDeleteLogGroup(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	writeFixture(t, s, 2)

	if err := s.CreateLogGroup(ctx, CreateLogGroupInput{LogGroupName: "/aws/lambda/a"}); !errors.Is(err, ErrGroupExists) {
		t.Fatalf("creating an existing group: got %v, want ResourceAlreadyExists", err)
	}
	if err := s.CreateLogGroup(ctx, CreateLogGroupInput{LogGroupName: "bad name"}); !errors.Is(err, &Error{Type: InvalidParameter}) {
		t.Fatalf("creating a badly named group: got %v, want InvalidParameter", err)
	}
	if err := s.CreateLogGroup(ctx, CreateLogGroupInput{LogGroupName: "/mine"}); err != nil {
		t.Fatal(err)
	}
	out, err := s.DescribeLogStreams(ctx, DescribeLogStreamsInput{LogGroupName: "/mine"})
	if err != nil || len(out.LogStreams) != 0 {
		t.Fatalf("a new group's streams: %+v, %v; want none", out, err)
	}
	if err := s.DeleteLogGroup(ctx, DeleteLogGroupInput{LogGroupName: "/aws/lambda/a"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.FilterLogEvents(ctx, FilterLogEventsInput{LogGroupName: "/aws/lambda/a"}); !errors.Is(err, ErrGroupNotFound) {
		t.Fatalf("filtering a deleted group: got %v, want ResourceNotFound", err)
	}
	if err := s.DeleteLogGroup(ctx, DeleteLogGroupInput{LogGroupName: "/aws/lambda/a"}); !errors.Is(err, ErrGroupNotFound) {
		t.Fatalf("deleting a deleted group: got %v, want ResourceNotFound", err)
	}
	groups, err := s.DescribeLogGroups(ctx, DescribeLogGroupsInput{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := messages(groups.LogGroups, func(g LogGroup) string { return g.LogGroupName }), []string{"/aws/lambda/b", "/mine"}; !slices.Equal(got, want) {
		t.Fatalf("groups %q, want %q", got, want)
	}
	// The group comes back with its next event.
	s.Write(Event{Group: "/aws/lambda/a", Stream: "s", Message: "again"})
	flush(t, s)
	ev, err := s.FilterLogEvents(ctx, FilterLogEventsInput{LogGroupName: "/aws/lambda/a"})
	if err != nil || len(ev.Events) != 1 || ev.Events[0].Message != "again" {
		t.Fatalf("after a new event: %+v, %v", ev, err)
	}
}

func TestWriteRefusesWhatCannotBeStored(t *testing.T) {
	s := openStore(t, statetest.New(t).JetStream(), StoreConfig{MaxEventBytes: 8})
	s.Write(Event{Group: "", Stream: "s", Message: "x"})
	s.Write(Event{Group: "/g", Stream: strings.Repeat("s", 513), Message: "x"})
	s.Write(Event{Group: "/g", Stream: "s", Message: "0123456789"})
	flush(t, s)
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	s.Write(Event{Group: "/g", Stream: "s", Message: "late"})
	if st := s.Stats(); st.Invalid != 2 || st.Truncated != 1 || st.Stored != 1 || st.Dropped != 1 {
		t.Fatalf("stats %+v: want 2 invalid, 1 truncated, 1 stored, 1 dropped after close", st)
	}
	out, err := s.GetLogEvents(context.Background(), GetLogEventsInput{LogGroupName: "/g", LogStreamName: "s"})
	if err != nil || len(out.Events) != 1 || out.Events[0].Message != "01234567" {
		t.Fatalf("got %+v, %v; want the message cut to 8 bytes", out, err)
	}
}
