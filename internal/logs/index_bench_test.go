package logs

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ember-serverless/ember/internal/state/statetest"
)

// BenchmarkIndexRebuild measures what a store opened on existing logs pays to build its
// index (the first query's refresh): 1M events of 16 streams of one group, packed as the
// invoke path packs them, from one invocation's four lines per message (a quiet function)
// to 64 lines (16 busy sandboxes).
func BenchmarkIndexRebuild(b *testing.B) {
	const events, streams = 1_000_000, 16
	for _, perMsg := range []int{4, 64} {
		b.Run(fmt.Sprintf("1M events, %d per message", perMsg), func(b *testing.B) {
			ctx := context.Background()
			js := statetest.New(b).JetStream()
			s, err := NewStore(ctx, js, StoreConfig{}, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close(ctx)
			base := time.Now().Add(-time.Hour)
			for n := 0; n < events; {
				p := &packer{subject: s.subj.group("/aws/lambda/bench")}
				for range perMsg {
					p.add(Event{Stream: fmt.Sprintf("2026/12/03/[$LATEST]%032d", n%streams), Time: base.Add(time.Duration(n) * time.Millisecond),
						Message: "a typical log line of about sixty bytes, give or take"})
					n++
				}
				if _, err := js.PublishMsgAsync(p.msg()); err != nil {
					b.Fatal(err)
				}
			}
			select {
			case <-js.PublishAsyncComplete():
			case <-time.After(5 * time.Minute):
				b.Fatal("publishing the fixture did not complete")
			}
			b.ResetTimer()
			for b.Loop() {
				fresh, err := NewStore(ctx, js, StoreConfig{}, nil)
				if err != nil {
					b.Fatal(err)
				}
				if err := fresh.refresh(ctx); err != nil {
					b.Fatal(err)
				}
				if got, _ := fresh.idx.streamList("/aws/lambda/bench"); len(got) != streams {
					b.Fatalf("index has %d streams, want %d", len(got), streams)
				}
				_ = fresh.Close(ctx)
			}
			b.ReportMetric(float64(events/perMsg), "messages")
		})
	}
}
