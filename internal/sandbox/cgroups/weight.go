package cgroups

import (
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// weigher keeps the CPU weight of the groups between the server's own group and its sandboxes
// equal to the sum of the sandboxes' weights. Otherwise a parent group keeps the default weight
// of one process, and however many sandboxes are busy, together they get no more CPU under
// contention than one of the server's threads: the sandboxes would compete for the CPU as the
// processes they are, not as one.
type weigher struct {
	file     string   // "cpu.shares" (v1) or "cpu.weight" (v2)
	dirs     []string // the parent groups to weigh, innermost first
	min, max int64

	mu    sync.Mutex
	total int64
}

// newWeigher weighs parent and the groups above it that Config.Parent created (its path's
// elements), never the server's own group.
func newWeigher(file, parent, relParent string, min, max int64) *weigher {
	w := &weigher{file: file, min: min, max: max}
	dir := parent
	for range strings.Split(filepath.Clean(relParent), "/") {
		w.dirs = append(w.dirs, dir)
		dir = filepath.Dir(dir)
	}
	return w
}

// set records that one group now adds v to the sum (it added *cur) and writes the sum to
// the parents. Failing to write leaves the default weight, which is slower but safe, so errors
// are not reported.
func (w *weigher) set(cur *int64, v int64) {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if *cur == v {
		return
	}
	w.total += v - *cur
	*cur = v
	sum := strconv.FormatInt(max(w.min, min(w.total, w.max)), 10)
	for _, d := range w.dirs {
		_ = writeFile(d, w.file, sum)
	}
}

// v1Shares is a group's cpu.shares for a CPU bandwidth: 1,024 per CPU.
func v1Shares(milli int64) int64 { return max(milli*1024/1000, 2) }

// v2Weight is a group's cpu.weight for a CPU bandwidth: 100 per CPU, within 1..10000.
func v2Weight(milli int64) int64 { return max(1, min(milli/10, 10000)) }
