package harness

import (
	"testing"
	"time"
)

func ms(v ...int) []time.Duration {
	out := make([]time.Duration, len(v))
	for i, n := range v {
		out[i] = time.Duration(n) * time.Millisecond
	}
	return out
}

func seq(n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = time.Duration(i+1) * time.Millisecond
	}
	return out
}

func TestPercentile(t *testing.T) {
	tests := []struct {
		name    string
		samples []time.Duration
		p       float64
		want    time.Duration
	}{
		{"an empty set has a zero percentile", nil, 50, 0},
		{"one sample is every percentile", ms(7), 99, 7 * time.Millisecond},
		{"the median of an odd set is its middle sample", ms(1, 2, 3, 4, 5), 50, 3 * time.Millisecond},
		{"the median of an even set is the lower middle sample", ms(1, 2, 3, 4), 50, 2 * time.Millisecond},
		{"p99 of 100 samples is the 99th, not the largest", seq(100), 99, 99 * time.Millisecond},
		{"p99 of 2000 samples is the 1980th", seq(2000), 99, 1980 * time.Millisecond},
		{"p99.9 of 1000 samples is the 999th", seq(1000), 99.9, 999 * time.Millisecond},
		{"p99 of 10 samples is the largest", seq(10), 99, 10 * time.Millisecond},
		{"p100 is the largest sample", seq(10), 100, 10 * time.Millisecond},
		{"a tiny percentile is the smallest sample", seq(10), 0.01, 1 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Percentile(tt.samples, tt.p); got != tt.want {
				t.Errorf("Percentile(%v, %v) = %v, want %v", tt.samples, tt.p, got, tt.want)
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	tests := []struct {
		name    string
		samples []time.Duration
		want    Summary
	}{
		{"no samples summarize to zeros", nil, Summary{}},
		{
			"unsorted samples are summarized as if sorted",
			ms(5, 1, 4, 2, 3),
			Summary{N: 5, P50: 3 * time.Millisecond, P99: 5 * time.Millisecond, Mean: 3 * time.Millisecond,
				Min: 1 * time.Millisecond, Max: 5 * time.Millisecond},
		},
		{
			"the mean is pulled by an outlier while the median is not",
			ms(1, 1, 1, 1, 96),
			Summary{N: 5, P50: 1 * time.Millisecond, P99: 96 * time.Millisecond, Mean: 20 * time.Millisecond,
				Min: 1 * time.Millisecond, Max: 96 * time.Millisecond},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Summarize(tt.samples); got != tt.want {
				t.Errorf("Summarize = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestSummarizeLeavesTheSamplesInTheirOrder(t *testing.T) {
	samples := ms(3, 1, 2)
	Summarize(samples)
	if samples[0] != 3*time.Millisecond || samples[1] != 1*time.Millisecond {
		t.Errorf("samples were reordered: %v", samples)
	}
}

func TestThroughput(t *testing.T) {
	tests := []struct {
		name string
		runs []Throughput
		want float64
	}{
		{"nothing run is zero per second", nil, 0},
		{"a thousand invokes in half a second is two thousand per second",
			[]Throughput{{Clients: 16, Count: 1000, Elapsed: 500 * time.Millisecond}}, 2000},
		{"pooled runs are one run of their combined length",
			[]Throughput{{Count: 1000, Elapsed: time.Second}, {Count: 3000, Elapsed: time.Second}}, 2000},
		{"errors do not count towards the rate",
			[]Throughput{{Count: 100, Errors: 900, Elapsed: time.Second}}, 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var total Throughput
			for _, r := range tt.runs {
				total = total.Add(r)
			}
			if got := total.RPS(); got != tt.want {
				t.Errorf("RPS = %v, want %v", got, tt.want)
			}
		})
	}
}
