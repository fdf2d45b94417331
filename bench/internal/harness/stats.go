package harness

import (
	"math"
	"slices"
	"time"
)

// Summary is what a set of latency samples comes to.
type Summary struct {
	N    int
	P50  time.Duration
	P99  time.Duration
	Mean time.Duration
	Min  time.Duration
	Max  time.Duration
}

// Summarize sorts a copy of samples and reports their count, p50, p99, mean, min and max.
// An empty set summarizes to zeros.
func Summarize(samples []time.Duration) Summary {
	if len(samples) == 0 {
		return Summary{}
	}
	sorted := slices.Clone(samples)
	slices.Sort(sorted)
	var sum time.Duration
	for _, d := range sorted {
		sum += d
	}
	return Summary{
		N:    len(sorted),
		P50:  Percentile(sorted, 50),
		P99:  Percentile(sorted, 99),
		Mean: sum / time.Duration(len(sorted)),
		Min:  sorted[0],
		Max:  sorted[len(sorted)-1],
	}
}

// Percentile returns the p-th percentile (0 < p ≤ 100) of ascending samples by the nearest-rank
// method: the smallest sample that at least p per cent of the samples are less than or equal
// to. It never interpolates, so the answer is always a latency that was observed. An empty set
// has no percentile and returns 0.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	// The epsilon keeps products such as 99.9×1000 from rounding up to the next rank.
	rank := int(math.Ceil(p*float64(len(sorted))/100 - 1e-9))
	rank = max(1, min(rank, len(sorted)))
	return sorted[rank-1]
}

// Throughput is what a fixed-duration run of concurrent clients did.
type Throughput struct {
	Clients int
	// Count is the invokes that succeeded, Errors those that did not.
	Count  int
	Errors int
	// Elapsed is the wall time from the first client's start to the last client's finish.
	Elapsed time.Duration
}

// Add pools another run's figures into t, as one run of the combined length.
func (t Throughput) Add(o Throughput) Throughput {
	return Throughput{
		Clients: max(t.Clients, o.Clients),
		Count:   t.Count + o.Count,
		Errors:  t.Errors + o.Errors,
		Elapsed: t.Elapsed + o.Elapsed,
	}
}

// RPS is successful invokes per second; 0 when nothing ran.
func (t Throughput) RPS() float64 {
	if t.Elapsed <= 0 {
		return 0
	}
	return float64(t.Count) / t.Elapsed.Seconds()
}
