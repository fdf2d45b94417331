package logs

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ember-serverless/ember/internal/state/statetest"
	"github.com/ember-serverless/ember/internal/testenv"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// gatedJS holds every publish until the gate opens, to play a stalled store.
type gatedJS struct {
	jetstream.JetStream
	gate    chan struct{}
	entered chan struct{}
}

func (g *gatedJS) PublishMsgAsync(m *nats.Msg, opts ...jetstream.PublishOpt) (jetstream.PubAckFuture, error) {
	select {
	case g.entered <- struct{}{}:
	default:
	}
	<-g.gate
	return g.JetStream.PublishMsgAsync(m, opts...)
}

func newGatedJS(t *testing.T) *gatedJS {
	return &gatedJS{JetStream: statetest.New(t).JetStream(), gate: make(chan struct{}), entered: make(chan struct{}, 1)}
}

func (g *gatedJS) waitEntered(t *testing.T) {
	t.Helper()
	select {
	case <-g.entered:
	case <-time.After(30 * time.Second):
		t.Fatal("the store never started publishing")
	}
}

func numbered(stream string, i int) Event {
	return Event{Group: "/g", Stream: stream, Time: time.Now(), Message: fmt.Sprintf("%s event %d", stream, i)}
}

// streamMessages reads a stream's messages from its head.
func streamMessages(t *testing.T, s *Store, group, stream string) []string {
	t.Helper()
	out, err := s.GetLogEvents(context.Background(), GetLogEventsInput{LogGroupName: group, LogStreamName: stream, StartFromHead: true})
	if err != nil {
		t.Fatalf("GetLogEvents %s: %v", stream, err)
	}
	var got []string
	for _, ev := range out.Events {
		got = append(got, ev.Message)
	}
	return got
}

func TestAStalledStoreSpillsToDiskWithoutBlockingWritersAndLosesNothing(t *testing.T) {
	js := newGatedJS(t)
	s := openStore(t, js, StoreConfig{BufferEvents: 10, MaxBatch: 1, SpillDir: t.TempDir()})

	s.Write(numbered("first", 0))
	js.waitEntered(t)
	// The publisher is stuck on that event. Four sandboxes each write 50 lines: the buffer
	// of ten fills and the rest goes to disk, and none of them waits for the store.
	const sandboxes, each = 4, 50
	wrote := make(chan struct{})
	go func() {
		var wg sync.WaitGroup
		for w := range sandboxes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					s.Write(numbered(fmt.Sprintf("s%d", w), i))
				}
			}()
		}
		wg.Wait()
		close(wrote)
	}()
	select {
	case <-wrote:
	case <-time.After(30 * time.Second):
		t.Fatal("Write waited for a stalled store")
	}
	st := s.Stats()
	if st.Dropped != 0 || st.Accepted != 1+sandboxes*each || st.Stored != 0 || st.Spilled < sandboxes*each-9 {
		t.Fatalf("stats while stalled %+v: want all %d accepted, at least %d spilled, none dropped or stored", st, 1+sandboxes*each, sandboxes*each-9)
	}

	close(js.gate)
	flush(t, s)
	if st := s.Stats(); st.Stored != 1+sandboxes*each || st.Buffered != 0 || st.Failed != 0 || st.Dropped != 0 {
		t.Fatalf("stats after flush %+v: want every event stored", st)
	}
	for w := range sandboxes {
		stream := fmt.Sprintf("s%d", w)
		want := make([]string, each)
		for i := range want {
			want[i] = numbered(stream, i).Message
		}
		if got := streamMessages(t, s, "/g", stream); !slices.Equal(got, want) {
			t.Fatalf("stream %s stored %q, want %q", stream, got, want)
		}
	}
	if fi, err := os.Stat(filepath.Join(s.cfg.SpillDir, spillFile)); err != nil || fi.Size() != 0 {
		t.Fatalf("spill file after it was stored: %v, %v; want it empty", fi, err)
	}

	// Once drained, events take the memory path again.
	spilled := s.Stats().Spilled
	s.Write(numbered("after", 0))
	flush(t, s)
	if st2 := s.Stats(); st2.Spilled != spilled || st2.Stored != 2+sandboxes*each {
		t.Fatalf("stats after one more event %+v", st2)
	}
}

func TestWithoutASpillWriteWaitsForRoomAndLosesNothing(t *testing.T) {
	js := newGatedJS(t)
	s := openStore(t, js, StoreConfig{BufferEvents: 10, MaxBatch: 1})

	s.Write(numbered("s", 0))
	js.waitEntered(t)
	wrote := make(chan struct{})
	go func() {
		for i := 1; i < 16; i++ {
			s.Write(numbered("s", i))
		}
		close(wrote)
	}()
	// Nine more fit beside the one being published; the eleventh waits.
	testenv.CheckFor(t, 30*time.Second, 10*time.Millisecond, func() error {
		if st := s.Stats(); st.Accepted != 10 {
			return fmt.Errorf("%d accepted, want 10", st.Accepted)
		}
		return nil
	})
	select {
	case <-wrote:
		t.Fatal("Write returned with the buffer full and the store stalled")
	default:
	}

	close(js.gate)
	select {
	case <-wrote:
	case <-time.After(30 * time.Second):
		t.Fatal("Write kept waiting after the store resumed")
	}
	flush(t, s)
	if st := s.Stats(); st.Stored != 16 || st.Dropped != 0 || st.Failed != 0 {
		t.Fatalf("stats %+v: want 16 stored, none dropped", st)
	}
	want := make([]string, 16)
	for i := range want {
		want[i] = numbered("s", i).Message
	}
	if got := streamMessages(t, s, "/g", "s"); !slices.Equal(got, want) {
		t.Fatalf("stored %q, want %q", got, want)
	}
}

func TestEventsSpilledBeforeACrashAreStoredByTheNextStore(t *testing.T) {
	dir := t.TempDir()
	var data []byte
	for i := range 5 {
		data = appendRecord(data, numbered("s", i))
	}
	// The process died in the middle of writing a sixth.
	torn := appendRecord(nil, numbered("s", 5))
	data = append(data, torn[:len(torn)-3]...)
	if err := os.WriteFile(filepath.Join(dir, spillFile), data, 0o600); err != nil {
		t.Fatal(err)
	}

	s := openStore(t, statetest.New(t).JetStream(), StoreConfig{SpillDir: dir})
	if st := s.Stats(); st.Accepted != 5 {
		t.Fatalf("stats on open %+v: want the 5 whole records accepted", st)
	}
	s.Write(numbered("s", 6))
	flush(t, s)
	want := []string{"s event 0", "s event 1", "s event 2", "s event 3", "s event 4", "s event 6"}
	if got := streamMessages(t, s, "/g", "s"); !slices.Equal(got, want) {
		t.Fatalf("stored %q, want %q", got, want)
	}
	if st := s.Stats(); st.Stored != 6 || st.Failed != 0 {
		t.Fatalf("stats %+v: want 6 stored", st)
	}
}

func TestSpillRecordsRoundTrip(t *testing.T) {
	evs := []Event{
		{Group: "/aws/lambda/f", Stream: "2026/12/03/[$LATEST]abc", Time: time.UnixMilli(1764763200123), Message: "hello"},
		{Group: "/g", Stream: "s", Time: time.UnixMilli(0), Message: ""},
		{Group: "/g", Stream: "s", Time: time.UnixMilli(-5), Message: "before the epoch, ünïcode"},
	}
	var data []byte
	for _, ev := range evs {
		data = appendRecord(data, ev)
	}
	for i, want := range evs {
		got, n, err := decodeRecord(data)
		if err != nil || got.Group != want.Group || got.Stream != want.Stream || !got.Time.Equal(want.Time) || got.Message != want.Message {
			t.Fatalf("record %d: %+v, %v; want %+v", i, got, err, want)
		}
		data = data[n:]
	}
	if _, _, err := decodeRecord(data); err == nil {
		t.Fatal("decoding past the last record succeeded")
	}
}
