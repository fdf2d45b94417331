package state

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// KeyWatch keeps an in-memory view of a KV bucket current: it hands every entry of the bucket
// to a callback, first each key's current value (or delete marker), then each change as it is
// stored, until Stop.
type KeyWatch struct {
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

// WatchKeys starts watching every key of kv and returns once apply has seen each key's current
// entry, so a cache built by apply is complete when WatchKeys returns. apply is called from one
// goroutine, in the order the bucket stored the entries; a delete or purge arrives as an entry
// whose Operation is not jetstream.KeyValuePut. ctx bounds only the initial load: the watch runs
// until Stop.
func WatchKeys(ctx context.Context, kv jetstream.KeyValue, apply func(jetstream.KeyValueEntry)) (*KeyWatch, error) {
	// The watch's end-of-current-values marker rests on the pending count its consumer reported
	// when it was created, which on a cluster can come out short; so the load also waits for the
	// bucket's last revision as it was before the watch began.
	last, err := lastRevision(ctx, kv)
	if err != nil {
		return nil, fmt.Errorf("state: watch %s: %w", kv.Bucket(), err)
	}
	bg, cancel := context.WithCancel(context.Background())
	w, err := kv.WatchAll(bg)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("state: watch %s: %w", kv.Bucket(), err)
	}
	kw := &KeyWatch{cancel: cancel, done: make(chan struct{})}
	loaded := make(chan struct{})
	go func() {
		defer close(kw.done)
		defer w.Stop()
		var applied uint64
		marked := false
		// grace bounds the wait for the last revision after the marker, in case that entry is
		// gone (a key whose delete markers were purged).
		var grace <-chan time.Time
		load := func() {
			if loaded != nil {
				close(loaded)
				loaded = nil
			}
		}
		for {
			select {
			case <-bg.Done():
				return
			case <-grace:
				load()
				grace = nil
			case e, ok := <-w.Updates():
				if !ok {
					return
				}
				if e == nil { // the end of the current values, as the consumer counted them
					marked = true
					grace = time.After(markerGrace)
				} else {
					apply(e)
					applied = max(applied, e.Revision())
				}
				if marked && applied >= last {
					load()
					grace = nil
				}
			}
		}
	}()
	select {
	case <-loaded:
		return kw, nil
	case <-kw.done:
		return nil, fmt.Errorf("state: watch %s: ended before the current values were read", kv.Bucket())
	case <-ctx.Done():
		kw.Stop()
		return nil, fmt.Errorf("state: loading %s: %w", kv.Bucket(), ctx.Err())
	}
}

// markerGrace is how long a load waits, after the watch's end-of-current-values marker, for the
// bucket's last revision to arrive.
const markerGrace = 5 * time.Second

// lastRevision is the bucket's last revision now (0 when empty or unknown).
func lastRevision(ctx context.Context, kv jetstream.KeyValue) (uint64, error) {
	st, err := kv.Status(ctx)
	if err != nil {
		return 0, err
	}
	if bs, ok := st.(*jetstream.KeyValueBucketStatus); ok {
		return bs.StreamInfo().State.LastSeq, nil
	}
	return 0, nil
}

// Stop ends the watch and waits until apply is no longer being called.
func (kw *KeyWatch) Stop() {
	kw.once.Do(kw.cancel)
	<-kw.done
}
