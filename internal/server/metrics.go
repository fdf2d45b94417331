package server

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ember-serverless/ember/internal/frontend"
)

// metricsHandler serves Prometheus metrics read from the roles when scraped, so that the
// invoke path does no metrics work beyond the frontend's counters.
func (s *Server) metricsHandler(fe *frontend.Frontend) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "ember_sandboxes", Help: "Sandboxes alive on this worker."},
			func() float64 { return float64(s.worker.Sandboxes()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "ember_sandboxes_idle", Help: "Warm sandboxes waiting for an invoke."},
			func() float64 { return float64(s.assign.Stats().Idle) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "ember_invocations_in_flight", Help: "Invocations running now."},
			func() float64 { return float64(fe.InFlight()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "ember_invocations_total", Help: "Invocations run."},
			func() float64 { return float64(fe.Stats().Invocations) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "ember_invocation_errors_total", Help: "Invocations that ended in a function error."},
			func() float64 { return float64(fe.Stats().FunctionErrors) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "ember_throttles_total", Help: "Invokes refused over the concurrency limit."},
			func() float64 { return float64(fe.Stats().Throttles) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "ember_log_events_dropped_total", Help: "Log events dropped because the log buffer was full."},
			func() float64 { return float64(s.logs.Stats().Dropped) }),
	)
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}
