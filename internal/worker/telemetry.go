package worker

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/ember-serverless/ember/internal/invoke"
	"github.com/ember-serverless/ember/internal/sandbox"
)

// Telemetry API limits and defaults, as Lambda documents them.
const (
	telemetryPath        = "/2022-07-01/telemetry"
	defaultMaxItems      = 1000
	defaultMaxBytes      = 256 * 1024
	defaultTimeoutMs     = 1000
	minMaxItems          = 25
	maxMaxItems          = 30000
	minMaxBytes          = 256 * 1024
	maxMaxBytes          = 1024 * 1024
	minTimeoutMs         = 25
	maxTimeoutMs         = 30000
	maxBacklog           = 1000 // init-phase events kept for extensions that subscribe later in it
	maxQueued            = 10000
	telemetryPostTimeout = 5 * time.Second
)

// Telemetry stream types.
const (
	telPlatform  = "platform"
	telFunction  = "function"
	telExtension = "extension"
)

// telemetry fans a sandbox's telemetry out to the extensions subscribed to it.
type telemetry struct {
	s      *Sandbox
	client *http.Client

	mu      sync.Mutex
	subs    []*subscriber
	backlog []telEvent // events of the init phase, replayed to subscribers that come later
	initEnd bool
	closed  bool
	running sync.WaitGroup // delivery loops
}

// finalFlush bounds how long a sandbox going away waits for its last telemetry to be
// delivered before it sends SHUTDOWN.
const finalFlush = 500 * time.Millisecond

// telEvent is one event: its stream type and its JSON encoding.
type telEvent struct {
	kind string
	json []byte
}

// subscriber is one extension's subscription: its listener, what it wants, and the events
// waiting to be delivered to it.
type subscriber struct {
	uri      string
	types    []string
	maxItems int
	maxBytes int
	timeout  time.Duration

	mu       sync.Mutex
	queue    [][]byte
	qbytes   int
	inflight int // batches taken and not yet posted
	dropped  int
	kick     chan struct{}
	stop     chan struct{}
}

func newTelemetry(s *Sandbox) *telemetry {
	t := &telemetry{s: s}
	t.client = &http.Client{
		Timeout: telemetryPostTimeout,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				d, ok := s.sb.(sandbox.Dialer)
				if !ok {
					return nil, fmt.Errorf("sandbox %s cannot be dialled into", s.id)
				}
				return d.Dial(ctx, network, addr)
			},
			MaxIdleConnsPerHost: 1,
			IdleConnTimeout:     30 * time.Second,
		},
	}
	return t
}

// emit records an event of stream kind ("platform", "function") of type typ with record.
func (t *telemetry) emit(kind, typ string, record any) {
	if !t.wants(kind) {
		return
	}
	b, err := json.Marshal(struct {
		Time   string `json:"time"`
		Type   string `json:"type"`
		Record any    `json:"record"`
	}{time.Now().UTC().Format("2006-01-02T15:04:05.000Z"), typ, record})
	if err != nil {
		return
	}
	ev := telEvent{kind: kind, json: b}
	t.mu.Lock()
	if !t.initEnd && len(t.backlog) < maxBacklog {
		t.backlog = append(t.backlog, ev)
	}
	subs := t.subs
	t.mu.Unlock()
	for _, sub := range subs {
		if slices.Contains(sub.types, kind) {
			sub.add(ev.json)
		}
	}
}

// wants reports whether an event of stream kind would go anywhere.
func (t *telemetry) wants(kind string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.initEnd {
		return true
	}
	for _, sub := range t.subs {
		if slices.Contains(sub.types, kind) {
			return true
		}
	}
	return false
}

// functionLine records a line of the function's output; the log capture calls it with a
// buffer it reuses.
func (t *telemetry) functionLine(line []byte) {
	t.emit(telFunction, telFunction, string(line))
}

// endInit stops keeping the init phase's events for late subscribers.
func (t *telemetry) endInit() {
	t.mu.Lock()
	t.initEnd = true
	t.backlog = nil
	t.mu.Unlock()
}

// close stops every delivery, after one last attempt to deliver what is queued, which it
// waits for up to finalFlush.
func (t *telemetry) close() {
	t.mu.Lock()
	subs := t.subs
	t.subs = nil
	t.closed = true
	t.initEnd = true
	t.backlog = nil
	t.mu.Unlock()
	for _, sub := range subs {
		close(sub.stop)
	}
	done := make(chan struct{})
	go func() {
		t.running.Wait()
		close(done)
	}()
	timer := time.NewTimer(finalFlush)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
	}
}

func (sub *subscriber) add(ev []byte) {
	sub.mu.Lock()
	if len(sub.queue) >= maxQueued {
		sub.dropped++
		sub.mu.Unlock()
		return
	}
	sub.queue = append(sub.queue, ev)
	sub.qbytes += len(ev)
	full := len(sub.queue) >= sub.maxItems || sub.qbytes >= sub.maxBytes
	first := len(sub.queue) == 1
	sub.mu.Unlock()
	if full || first {
		select {
		case sub.kick <- struct{}{}:
		default:
		}
	}
}

// take removes a batch of at most maxItems events and about maxBytes from the queue.
func (sub *subscriber) take() (batch [][]byte, n int, full bool) {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	size := 0
	for n < len(sub.queue) && n < sub.maxItems {
		if n > 0 && size+len(sub.queue[n]) > sub.maxBytes {
			break
		}
		size += len(sub.queue[n])
		n++
	}
	batch = sub.queue[:n:n]
	sub.queue = sub.queue[n:]
	sub.qbytes -= size
	if n > 0 {
		sub.inflight++ // until post is done with it
	}
	return batch, n, len(sub.queue) >= sub.maxItems || sub.qbytes >= sub.maxBytes
}

func (sub *subscriber) queued() (int, bool) {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	return len(sub.queue), len(sub.queue) >= sub.maxItems || sub.qbytes >= sub.maxBytes
}

// deliver posts batches to the subscriber's listener: when the buffer is full, or its timeout
// after the first event queued has passed.
func (t *telemetry) deliver(sub *subscriber) {
	for {
		select {
		case <-sub.kick:
		case <-sub.stop:
			t.flush(sub)
			return
		}
		n, full := sub.queued()
		if n == 0 {
			continue
		}
		if !full {
			timer := time.NewTimer(sub.timeout)
			waiting := true
			for waiting {
				select {
				case <-timer.C:
					waiting = false
				case <-sub.kick:
					if _, full := sub.queued(); full {
						timer.Stop()
						waiting = false
					}
				case <-sub.stop:
					timer.Stop()
					t.flush(sub)
					return
				}
			}
		}
		for {
			batch, n, more := sub.take()
			if n == 0 {
				break
			}
			t.post(sub, batch)
			if !more {
				break
			}
		}
	}
}

func (t *telemetry) flush(sub *subscriber) {
	for {
		batch, n, _ := sub.take()
		if n == 0 {
			return
		}
		t.post(sub, batch)
	}
}

// pending reports whether events are waiting for, or on their way to, a subscriber: the
// sandbox is not frozen until they are delivered, since its extensions could not take them.
func (t *telemetry) pending() bool {
	t.mu.Lock()
	subs := t.subs
	t.mu.Unlock()
	for _, sub := range subs {
		sub.mu.Lock()
		busy := len(sub.queue) > 0 || sub.inflight > 0
		sub.mu.Unlock()
		if busy {
			return true
		}
	}
	return false
}

// post delivers a batch that take returned.
func (t *telemetry) post(sub *subscriber, batch [][]byte) {
	defer func() {
		sub.mu.Lock()
		sub.inflight--
		sub.mu.Unlock()
	}()
	var body bytes.Buffer
	body.WriteByte('[')
	for i, ev := range batch {
		if i > 0 {
			body.WriteByte(',')
		}
		body.Write(ev)
	}
	body.WriteByte(']')
	resp, err := t.client.Post(sub.uri, "application/json", &body)
	if err != nil {
		t.s.logger.Debug("telemetry delivery failed", "uri", sub.uri, "err", err)
		return
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}

// telemetryRequest is the body of a Telemetry API subscription.
type telemetryRequest struct {
	SchemaVersion string `json:"schemaVersion"`
	Destination   *struct {
		Protocol string `json:"protocol"`
		URI      string `json:"URI"`
	} `json:"destination"`
	Types     []string `json:"types"`
	Buffering *struct {
		MaxItems  *int `json:"maxItems"`
		MaxBytes  *int `json:"maxBytes"`
		TimeoutMs *int `json:"timeoutMs"`
	} `json:"buffering"`
}

// handleTelemetrySubscribe subscribes an extension to telemetry streams.
func (s *Sandbox) handleTelemetrySubscribe(w http.ResponseWriter, r *http.Request) {
	x := s.ext.Load()
	if x == nil {
		runtimeError(w, http.StatusForbidden, errExtUnknownID, "Unknown extension "+r.Header.Get(hdrExtID))
		return
	}
	if x.byHeader(w, r) == nil {
		return
	}
	var req telemetryRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&req); err != nil {
		runtimeError(w, http.StatusBadRequest, "ValidationError", "invalid subscription request: "+err.Error())
		return
	}
	sub, msg := validateSubscription(&req)
	if sub == nil {
		runtimeError(w, http.StatusBadRequest, "ValidationError", msg)
		return
	}
	t := x.tel
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		runtimeError(w, http.StatusForbidden, errExtInvalidState, "the sandbox is shutting down")
		return
	}
	backlog := t.backlog
	t.subs = append(slices.Clip(t.subs), sub)
	t.running.Add(1)
	t.mu.Unlock()
	for _, ev := range backlog {
		if slices.Contains(sub.types, ev.kind) {
			sub.add(ev.json)
		}
	}
	if slices.Contains(sub.types, telFunction) {
		s.log.setTee(t.functionLine)
	}
	go func() {
		defer t.running.Done()
		t.deliver(sub)
	}()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	w.Write([]byte(`"OK"`))
}

func validateSubscription(req *telemetryRequest) (*subscriber, string) {
	switch req.SchemaVersion {
	case "2022-07-01", "2022-12-13", "2025-01-29":
	default:
		return nil, fmt.Sprintf("schemaVersion %q is not one of 2022-07-01, 2022-12-13, 2025-01-29", req.SchemaVersion)
	}
	if req.Destination == nil {
		return nil, "destination is required"
	}
	if req.Destination.Protocol != "HTTP" {
		return nil, fmt.Sprintf("destination protocol %q is not supported (HTTP is)", req.Destination.Protocol)
	}
	u, err := url.Parse(req.Destination.URI)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return nil, fmt.Sprintf("destination URI %q is not an http:// URI", req.Destination.URI)
	}
	if len(req.Types) == 0 {
		return nil, "types is required"
	}
	for _, ty := range req.Types {
		if ty != telPlatform && ty != telFunction && ty != telExtension {
			return nil, fmt.Sprintf("type %q is not one of platform, function, extension", ty)
		}
	}
	sub := &subscriber{uri: req.Destination.URI, types: slices.Clone(req.Types),
		maxItems: defaultMaxItems, maxBytes: defaultMaxBytes, timeout: defaultTimeoutMs * time.Millisecond,
		kick: make(chan struct{}, 1), stop: make(chan struct{})}
	if b := req.Buffering; b != nil {
		if v := b.MaxItems; v != nil {
			if *v < minMaxItems || *v > maxMaxItems {
				return nil, fmt.Sprintf("buffering.maxItems must be between %d and %d", minMaxItems, maxMaxItems)
			}
			sub.maxItems = *v
		}
		if v := b.MaxBytes; v != nil {
			if *v < minMaxBytes || *v > maxMaxBytes {
				return nil, fmt.Sprintf("buffering.maxBytes must be between %d and %d", minMaxBytes, maxMaxBytes)
			}
			sub.maxBytes = *v
		}
		if v := b.TimeoutMs; v != nil {
			if *v < minTimeoutMs || *v > maxTimeoutMs {
				return nil, fmt.Sprintf("buffering.timeoutMs must be between %d and %d", minTimeoutMs, maxTimeoutMs)
			}
			sub.timeout = time.Duration(*v) * time.Millisecond
		}
	}
	return sub, ""
}

// Platform events.

func (s *Sandbox) telInitStart(x *extensions) {
	x.tel.emit(telPlatform, "platform.initStart", map[string]any{
		"initializationType": "on-demand", "phase": "init",
		"functionName": s.cfg.FunctionName, "functionVersion": s.cfg.Version,
		"runtimeVersion": s.cfg.Runtime,
	})
}

func (s *Sandbox) telInitDone(x *extensions, status string, d time.Duration) {
	x.tel.emit(telPlatform, "platform.initRuntimeDone", map[string]any{
		"initializationType": "on-demand", "phase": "init", "status": status,
	})
	x.tel.emit(telPlatform, "platform.initReport", map[string]any{
		"initializationType": "on-demand", "phase": "init", "status": status,
		"metrics": map[string]any{"durationMs": msFloat(d)},
	})
	x.tel.endInit()
}

func (s *Sandbox) telStart(x *extensions, c *call) {
	rec := map[string]any{"requestId": c.inv.RequestID, "version": s.cfg.Version}
	if c.inv.TraceID != "" {
		rec["tracing"] = map[string]any{"type": "X-Amzn-Trace-Id", "value": c.inv.TraceID}
	}
	x.tel.emit(telPlatform, "platform.start", rec)
}

func (s *Sandbox) telDone(x *extensions, c *call, status string, res *invoke.Result, cold bool) {
	d := res.Duration
	x.tel.emit(telPlatform, "platform.runtimeDone", map[string]any{
		"requestId": c.inv.RequestID, "status": status,
		"metrics": map[string]any{"durationMs": msFloat(d), "producedBytes": len(res.Payload)},
	})
	billed := d
	if cold {
		billed += res.InitDuration
	}
	metrics := map[string]any{
		"durationMs":       msFloat(d),
		"billedDurationMs": int64((billed + time.Millisecond - 1) / time.Millisecond),
		"memorySizeMB":     s.cfg.MemoryMB,
		"maxMemoryUsedMB":  (s.peakMem + (1 << 20) - 1) >> 20,
	}
	if cold {
		metrics["initDurationMs"] = msFloat(res.InitDuration)
	}
	x.tel.emit(telPlatform, "platform.report", map[string]any{
		"requestId": c.inv.RequestID, "status": status, "metrics": metrics,
	})
}

func msFloat(d time.Duration) float64 {
	return float64(d.Microseconds()) / 1000
}
