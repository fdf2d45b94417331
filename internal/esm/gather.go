package esm

import (
	"context"
	"sync"
	"time"
)

// Gather is the waiting part of a source's Next. The caller holds cond.L, and its source
// broadcasts cond whenever records arrive. Gather waits until count() is above zero; then, when
// window is set and fewer than maxRecs are there, until maxRecs are or the window has passed
// (Lambda's MaximumBatchingWindowInSeconds). It returns ctx's error if ctx ends before any record
// is there, or failed's (when failed is not nil) if the source fails first; once records are
// there, it returns nil and the caller takes up to maxRecs of them.
func Gather(ctx context.Context, cond *sync.Cond, maxRecs int, window time.Duration, count func() int, failed func() error) error {
	wake := func() {
		cond.L.Lock()
		cond.Broadcast()
		cond.L.Unlock()
	}
	defer context.AfterFunc(ctx, wake)()
	if failed == nil {
		failed = func() error { return nil }
	}
	for count() == 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := failed(); err != nil {
			return err
		}
		cond.Wait()
	}
	if window > 0 && count() < maxRecs {
		deadline := time.Now().Add(window)
		timer := time.AfterFunc(window, wake)
		for count() < maxRecs && time.Now().Before(deadline) && ctx.Err() == nil && failed() == nil {
			cond.Wait()
		}
		timer.Stop()
	}
	return nil
}
