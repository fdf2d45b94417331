package esm

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Collector exposes every mapping's figures to Prometheus, read when scraped.
func (s *Service) Collector() prometheus.Collector { return collector{s} }

type collector struct{ s *Service }

type metric struct {
	desc  *prometheus.Desc
	kind  prometheus.ValueType
	value func(*Stats) float64
	// skip leaves the mapping out when it has no value (a source that cannot tell its lag).
	skip func(*Stats) bool
}

func newMetric(name, help string, kind prometheus.ValueType, value func(*Stats) float64) metric {
	return metric{desc: prometheus.NewDesc(name, help, []string{"uuid", "function"}, nil), kind: kind, value: value}
}

var metrics = []metric{
	newMetric("ember_esm_records_polled_total", "Records read from the mapping's source.", prometheus.CounterValue,
		func(s *Stats) float64 { return float64(s.Polled) }),
	newMetric("ember_esm_records_filtered_total", "Records skipped (and acknowledged) because no filter matched them.", prometheus.CounterValue,
		func(s *Stats) float64 { return float64(s.Filtered) }),
	newMetric("ember_esm_records_invoked_total", "Records handed to the function, counted once per invocation they were in.", prometheus.CounterValue,
		func(s *Stats) float64 { return float64(s.Invoked) }),
	newMetric("ember_esm_records_succeeded_total", "Records the function processed successfully.", prometheus.CounterValue,
		func(s *Stats) float64 { return float64(s.Succeeded) }),
	newMetric("ember_esm_records_failed_total", "Records that failed for good (retries or age exhausted).", prometheus.CounterValue,
		func(s *Stats) float64 { return float64(s.Failed) }),
	newMetric("ember_esm_batch_retries_total", "Retries of failed batches (bisections included).", prometheus.CounterValue,
		func(s *Stats) float64 { return float64(s.Retried) }),
	newMetric("ember_esm_batches_throttled_total", "Batches that were throttled or failed before the function ran, and wait to be retried.", prometheus.CounterValue,
		func(s *Stats) float64 { return float64(s.Throttled) }),
	newMetric("ember_esm_iterator_age_seconds", "Age of the last record of the last batch invoked, as Lambda's IteratorAge.", prometheus.GaugeValue,
		func(s *Stats) float64 { return s.IteratorAge.Seconds() }),
	{desc: prometheus.NewDesc("ember_esm_lag_records", "Records waiting in the source, not yet acknowledged.", []string{"uuid", "function"}, nil),
		kind: prometheus.GaugeValue, value: func(s *Stats) float64 { return float64(s.Pending) }, skip: func(s *Stats) bool { return s.Pending < 0 }},
}

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range metrics {
		ch <- m.desc
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	stats := c.s.Stats()
	for i := range stats {
		for _, m := range metrics {
			if m.skip != nil && m.skip(&stats[i]) {
				continue
			}
			ch <- prometheus.MustNewConstMetric(m.desc, m.kind, m.value(&stats[i]), stats[i].UUID, stats[i].Function)
		}
	}
}
