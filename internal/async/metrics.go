package async

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Collector exposes every function's queue and totals to Prometheus, read when scraped.
func (s *Service) Collector() prometheus.Collector { return collector{s} }

type collector struct{ s *Service }

type metric struct {
	desc  *prometheus.Desc
	kind  prometheus.ValueType
	value func(*FunctionStats) float64
}

func newMetric(name, help string, kind prometheus.ValueType, value func(*FunctionStats) float64) metric {
	return metric{prometheus.NewDesc(name, help, []string{"function"}, nil), kind, value}
}

var metrics = []metric{
	newMetric("ember_async_queue_depth", "Events (and pending deliveries) queued or running, by function.", prometheus.GaugeValue,
		func(f *FunctionStats) float64 { return float64(f.Depth) }),
	newMetric("ember_async_oldest_event_age_seconds", "Age of the function's oldest queued event.", prometheus.GaugeValue,
		func(f *FunctionStats) float64 { return f.OldestAge.Seconds() }),
	newMetric("ember_async_events_received_total", "Asynchronous invocations accepted.", prometheus.CounterValue,
		func(f *FunctionStats) float64 { return float64(f.Received) }),
	newMetric("ember_async_events_succeeded_total", "Queued events whose run succeeded.", prometheus.CounterValue,
		func(f *FunctionStats) float64 { return float64(f.Succeeded) }),
	newMetric("ember_async_function_errors_total", "Runs of queued events that ended in a function error.", prometheus.CounterValue,
		func(f *FunctionStats) float64 { return float64(f.FunctionErrors) }),
	newMetric("ember_async_retries_total", "Retries scheduled (function errors, throttles, system errors).", prometheus.CounterValue,
		func(f *FunctionStats) float64 { return float64(f.Retried) }),
	newMetric("ember_async_events_dropped_total", "Events dropped: past MaximumEventAgeInSeconds, or of a deleted function.", prometheus.CounterValue,
		func(f *FunctionStats) float64 { return float64(f.Dropped) }),
	newMetric("ember_async_events_failed_total", "Events that failed for good (retries or age exhausted).", prometheus.CounterValue,
		func(f *FunctionStats) float64 { return float64(f.Failed) }),
	newMetric("ember_async_destination_deliveries_total", "Invocation records delivered to OnSuccess and OnFailure destinations.", prometheus.CounterValue,
		func(f *FunctionStats) float64 { return float64(f.Destinations) }),
	newMetric("ember_async_dead_letters_total", "Failed events delivered to the function's dead-letter queue.", prometheus.CounterValue,
		func(f *FunctionStats) float64 { return float64(f.DeadLetters) }),
	newMetric("ember_async_duplicates_total", "Runs of an event whose earlier run was never settled (it may have run twice).", prometheus.CounterValue,
		func(f *FunctionStats) float64 { return float64(f.Duplicates) }),
}

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range metrics {
		ch <- m.desc
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	stats, err := c.s.Stats(ctx)
	if err != nil {
		c.s.logger.Warn("could not read the queue for metrics", "err", err)
		return
	}
	for i := range stats {
		for _, m := range metrics {
			ch <- prometheus.MustNewConstMetric(m.desc, m.kind, m.value(&stats[i]), stats[i].Function)
		}
	}
}
