package api_test

import (
	"sync/atomic"
	"time"
)

// clock is a settable clock for tests.
type clock struct{ unix atomic.Int64 }

func timeAt(unix int64) *clock {
	c := &clock{}
	c.unix.Store(unix)
	return c
}

func (c *clock) get() time.Time    { return time.Unix(c.unix.Load(), 0) }
func (c *clock) add(seconds int64) { c.unix.Add(seconds) }
