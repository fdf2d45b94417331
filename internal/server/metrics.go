package server

import (
	"fmt"
	"net"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ember-serverless/ember/internal/api"
	"github.com/ember-serverless/ember/internal/assign"
	"github.com/ember-serverless/ember/internal/frontend"
)

// metricsHandler serves Prometheus metrics read from the roles when scraped, so that the
// invoke path does no metrics work beyond the frontend's counters.
func (s *Server) metricsHandler(fe *frontend.Frontend) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		s.async.Collector(),
		s.esm.Collector(),
		newFunctionCollector(fe, s.assign),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "ember_api_connections", Help: "Connections the API holds open."},
			func() float64 { return float64(s.conns.open()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "ember_api_connections_evicted_total",
			Help: "Idle API connections closed to make room for new ones at the connection cap."},
			func() float64 { return float64(s.conns.evicted.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "ember_api_connections_refused_total",
			Help: "API connections closed at once because every held one had a request in progress."},
			func() float64 { return float64(s.conns.refused.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "ember_sandboxes", Help: "Sandboxes alive on this server's workers."},
			func() float64 { return float64(s.Sandboxes()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "ember_sandbox_memory_mb", Help: "The MemorySize of every sandbox alive, summed: what placement packs by."},
			func() float64 {
				var mb int64
				for _, w := range s.workers {
					mb += w.MemoryMB()
				}
				return float64(mb)
			}),
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
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "ember_log_events_dropped_total", Help: "Log events dropped because they were written after the log store closed."},
			func() float64 { return float64(s.logs.Stats().Dropped) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "ember_log_events_spilled_total", Help: "Log events written to the spill file on disk because the log store lagged."},
			func() float64 { return float64(s.logs.Stats().Spilled) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "ember_log_events_failed_total", Help: "Log events the log store refused after retries."},
			func() float64 { return float64(s.logs.Stats().Failed) }),
	)
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}

// serveMetrics serves /metrics on its own listener, never on the API's: metrics need no
// signature, so whoever reaches addr can read them (the default is not to serve them at all).
func (s *Server) serveMetrics(addr string, fe *frontend.Frontend) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("metrics listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", s.metricsHandler(fe))
	capped := capConns(ln, 64)
	s.metrics = &http.Server{Handler: mux, ReadHeaderTimeout: api.ReadHeaderTimeout, IdleTimeout: api.IdleTimeout,
		MaxHeaderBytes: api.MaxHeaderBytes, ConnState: capped.ConnState}
	go s.metrics.Serve(capped)
	s.metricsAddr = ln.Addr().String()
	s.logger.Info("serving metrics", "addr", s.metricsAddr)
	return nil
}

// MetricsAddr is where metrics are served, or "" when they are not.
func (s *Server) MetricsAddr() string {
	if s.metrics == nil {
		return ""
	}
	return s.metricsAddr
}

// OpenConnections is how many connections the API holds open now.
func (s *Server) OpenConnections() int { return s.conns.open() }

// functionCollector reports the frontend's per-function figures when scraped.
type functionCollector struct {
	fe                                *frontend.Frontend
	assign                            *assign.Manager
	concurrent, invocations, throttle *prometheus.Desc
	provisioned, provisionedBusy      *prometheus.Desc
}

func newFunctionCollector(fe *frontend.Frontend, m *assign.Manager) *functionCollector {
	return &functionCollector{fe: fe, assign: m,
		provisioned: prometheus.NewDesc("ember_function_provisioned_sandboxes",
			"Initialized sandboxes kept for the function's provisioned concurrency.", []string{"function"}, nil),
		provisionedBusy: prometheus.NewDesc("ember_function_provisioned_busy",
			"Provisioned sandboxes of the function running an invocation now (utilization: this over ember_function_provisioned_sandboxes).", []string{"function"}, nil),
		concurrent: prometheus.NewDesc("ember_function_concurrent_executions",
			"Invocations of the function running now.", []string{"function"}, nil),
		invocations: prometheus.NewDesc("ember_function_invocations_total",
			"Invocations of the function run.", []string{"function"}, nil),
		throttle: prometheus.NewDesc("ember_function_throttles_total",
			"Invokes of the function refused, by Lambda's throttle reason (or Ember's, docs/concurrency.md).", []string{"function", "reason"}, nil),
	}
}

func (c *functionCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.concurrent
	ch <- c.invocations
	ch <- c.throttle
	ch <- c.provisioned
	ch <- c.provisionedBusy
}

func (c *functionCollector) Collect(ch chan<- prometheus.Metric) {
	for _, st := range c.fe.FunctionStats() {
		ch <- prometheus.MustNewConstMetric(c.concurrent, prometheus.GaugeValue, float64(st.Concurrent), st.Function)
		ch <- prometheus.MustNewConstMetric(c.invocations, prometheus.CounterValue, float64(st.Invocations), st.Function)
		for reason, n := range st.Throttles {
			ch <- prometheus.MustNewConstMetric(c.throttle, prometheus.CounterValue, float64(n), st.Function, reason)
		}
	}
	pinned, busy := map[string]int{}, map[string]int{}
	for _, st := range c.assign.Provisioned() {
		pinned[st.Function] += st.Pinned
		busy[st.Function] += st.Busy
	}
	for fn, n := range pinned {
		ch <- prometheus.MustNewConstMetric(c.provisioned, prometheus.GaugeValue, float64(n), fn)
		ch <- prometheus.MustNewConstMetric(c.provisionedBusy, prometheus.GaugeValue, float64(busy[fn]), fn)
	}
}
