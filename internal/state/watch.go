package state

import (
	"context"
	"fmt"
	"sync"

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
		for {
			select {
			case <-bg.Done():
				return
			case e, ok := <-w.Updates():
				if !ok {
					return
				}
				if e == nil { // the end of the current values
					if loaded != nil {
						close(loaded)
						loaded = nil
					}
					continue
				}
				apply(e)
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

// Stop ends the watch and waits until apply is no longer being called.
func (kw *KeyWatch) Stop() {
	kw.once.Do(kw.cancel)
	<-kw.done
}
