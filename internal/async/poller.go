package async

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ember-serverless/ember/internal/invoke"
	"github.com/ember-serverless/ember/internal/lambdaerr"
)

// consumerName is the durable consumer of a function's subject.
func consumerName(function string) string { return "fn-" + function }

// poll runs until draining starts: it takes as many of the function's events as it has free
// slots for, and runs each in a goroutine of its own.
func (s *Service) poll(function string) {
	defer s.fetching.Done()
	log := s.logger.With("function", function)
	var cons jetstream.Consumer
	for s.fetchCtx.Err() == nil {
		var err error
		cons, err = s.cfg.JetStream.CreateOrUpdateConsumer(s.fetchCtx, StreamName, jetstream.ConsumerConfig{
			Durable:       consumerName(function),
			FilterSubject: Subject(function),
			AckPolicy:     jetstream.AckExplicitPolicy,
			AckWait:       s.cfg.AckWait,
			MaxDeliver:    -1,
			MaxAckPending: 10000,
		})
		if err == nil {
			break
		}
		log.Warn("could not create the function's queue consumer; retrying", "err", err)
		s.pause(s.fetchCtx, time.Second)
	}
	slots := make(chan struct{}, s.cfg.PollersPerFunction)
	for s.fetchCtx.Err() == nil {
		select {
		case slots <- struct{}{}:
		case <-s.fetchCtx.Done():
			return
		}
		n := 1
	reserve:
		for n < cap(slots) {
			select {
			case slots <- struct{}{}:
				n++
			default:
				break reserve
			}
		}
		batch, err := cons.Fetch(n, jetstream.FetchMaxWait(s.cfg.PollWait))
		if err != nil {
			for range n {
				<-slots
			}
			if s.fetchCtx.Err() == nil {
				log.Warn("could not fetch events; retrying", "err", err)
				s.pause(s.fetchCtx, time.Second)
			}
			continue
		}
		got := 0
		for msg := range batch.Messages() {
			if s.fetchCtx.Err() != nil {
				_ = msg.Nak() // draining: straight back to the queue
				continue
			}
			got++
			s.running.Add(1)
			go func() {
				defer func() { <-slots; s.running.Done() }()
				s.handle(function, msg)
			}()
		}
		for range n - got {
			<-slots
		}
	}
}

func (s *Service) pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// handle runs one delivered event and settles it: acknowledged when it succeeded or failed for
// good (after its record went to the destinations), or back in the queue with a delay.
func (s *Service) handle(function string, msg jetstream.Msg) {
	st := s.stats.of(function)
	e, err := decodeEvent(msg)
	if err != nil {
		s.logger.Error("dropping a malformed queued message", "function", function, "err", err)
		st.dropped.Add(1)
		_ = msg.Term()
		return
	}
	log := s.logger.With("function", e.Function, "request_id", e.RequestID)
	cfg := s.configs.Lookup(e.Function, e.Qualifier)
	now := s.cfg.Now()
	meta, _ := msg.Metadata()
	deliveries := uint64(1)
	if meta != nil {
		deliveries = meta.NumDelivered
	}

	if e.DeliverTo != "" {
		s.redeliver(msg, e, cfg, deliveries, log)
		return
	}
	if now.Sub(e.Received) > cfg.MaxAge() {
		log.Info("event expired before it could run", "age", now.Sub(e.Received).String(), "attempt", e.Attempt)
		st.dropped.Add(1)
		s.settleFailure(msg, e, cfg, ConditionEventAgeExceeded, nil, http.StatusTooManyRequests, "Event age exceeded MaximumEventAgeInSeconds", log)
		return
	}
	if e.NotBefore.After(now) {
		_ = msg.NakWithDelay(e.NotBefore.Sub(now))
		return
	}

	runKey := e.RequestID
	if v, err := s.runs.Get(s.runCtx, runKey); err == nil && string(v.Value()) == strconv.Itoa(e.Attempt) {
		// A delivery of this same attempt started before and was never settled: the
		// server stopped or lost it mid-run, so this run may be its second.
		st.duplicates.Add(1)
		log.Info("running an event again whose earlier run was not settled (a possible duplicate)", "attempt", e.Attempt)
	}
	if _, err := s.runs.Put(s.runCtx, runKey, []byte(strconv.Itoa(e.Attempt))); err != nil && s.runCtx.Err() == nil {
		log.Warn("could not record the event's run", "err", err)
	}

	resp, err := s.invoke(msg, e)
	if s.runCtx.Err() != nil {
		_ = msg.Nak() // abandoned at the drain's deadline: back to the queue
		return
	}
	switch {
	case err != nil:
		le := lambdaerr.As(err)
		if le.Type == lambdaerr.ResourceNotFound {
			log.Info("dropping an event of a function that no longer exists", "err", err)
			st.dropped.Add(1)
			_ = msg.Ack()
			return
		}
		// Throttled or failed before the function ran: it did not run, so this attempt
		// is not used up. Back off and try again until the event's age runs out.
		_ = s.runs.Delete(s.runCtx, runKey)
		delay := s.throttleDelay(deliveries)
		if left := cfg.MaxAge() - now.Sub(e.Received); delay > left {
			delay = max(left, 0) + time.Millisecond
		}
		st.retried.Add(1)
		log.Debug("event will be retried", "err", err, "delay", delay.String())
		_ = msg.NakWithDelay(delay)
	case resp.FunctionError != "":
		st.functionErrors.Add(1)
		if e.Attempt < cfg.RetryAttempts() {
			next := *e
			next.Attempt++
			next.NotBefore = s.cfg.Now().Add(s.cfg.RetryBaseDelay << e.Attempt) // counted from the failure
			if err := s.queue.put(s.runCtx, &next); err != nil {
				log.Warn("could not queue the event's retry; it will be run again", "err", err)
				_ = msg.NakWithDelay(s.throttleDelay(deliveries))
				return
			}
			st.retried.Add(1)
			_ = msg.Ack()
			return
		}
		s.settleFailure(msg, e, cfg, ConditionRetriesExhausted, resp, http.StatusOK, errorMessage(resp.Payload), log)
	default:
		st.succeeded.Add(1)
		if dest := cfg.OnSuccess(); dest != "" {
			rec := NewRecord(s.cfg.Now(), e.RequestID, s.cfg.ARNs.FunctionARN(e.Function, qualifierOrLatest(e.Qualifier)),
				ConditionSuccess, e.Attempt+1, e.Payload, responseContext(resp), resp.Payload)
			if !s.deliver(e, dest, rec.Marshal(), nil, log) {
				_ = msg.NakWithDelay(s.throttleDelay(deliveries))
				return
			}
			st.destinations.Add(1)
		}
		_ = msg.Ack()
	}
}

// invoke runs the event through the synchronous path, telling JetStream the event is still
// being worked on while it runs.
func (s *Service) invoke(msg jetstream.Msg, e *Event) (*invoke.Response, error) {
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		t := time.NewTicker(s.cfg.AckWait / 3)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				_ = msg.InProgress()
			case <-stop:
				return
			}
		}
	}()
	type result struct {
		resp *invoke.Response
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := s.cfg.Invoker.Invoke(s.runCtx, &invoke.Request{Function: e.Function, Qualifier: e.Qualifier,
			Type: invoke.RequestResponse, Payload: e.Payload, RequestID: e.RequestID})
		if err == nil && resp.Finish != nil {
			resp.Finish()
		}
		done <- result{resp, err}
	}()
	select {
	case r := <-done:
		return r.resp, r.err
	case <-s.runCtx.Done():
		// Abandoned at the drain's deadline; the caller puts the event back.
		return nil, s.runCtx.Err()
	}
}

// settleFailure hands a failed event to its failure destination and dead-letter queue, then
// acknowledges it.
func (s *Service) settleFailure(msg jetstream.Msg, e *Event, cfg *EventInvokeConfig, condition string, resp *invoke.Response, code int, message string, log *slog.Logger) {
	st := s.stats.of(e.Function)
	if dest := cfg.OnFailure(); dest != "" {
		var rc *ResponseContext
		var payload []byte
		if resp != nil {
			rc, payload = responseContext(resp), resp.Payload
		}
		rec := NewRecord(s.cfg.Now(), e.RequestID, s.cfg.ARNs.FunctionARN(e.Function, qualifierOrLatest(e.Qualifier)),
			condition, e.Attempt+1, e.Payload, rc, payload)
		if !s.deliver(e, dest, rec.Marshal(), nil, log) {
			_ = msg.NakWithDelay(time.Second)
			return
		}
		st.destinations.Add(1)
	}
	if dlq := s.cfg.Functions.DeadLetterTarget(e.Function); dlq != "" {
		if len(message) > 1024 {
			message = message[:1024]
		}
		h := nats.Header{}
		h.Set("RequestID", e.RequestID)
		h.Set("ErrorCode", strconv.Itoa(code))
		h.Set("ErrorMessage", message)
		if !s.deliver(e, dlq, e.Payload, h, log) {
			_ = msg.NakWithDelay(time.Second)
			return
		}
		st.deadLetters.Add(1)
	}
	if cfg.OnFailure() == "" && s.cfg.Functions.DeadLetterTarget(e.Function) == "" {
		log.Warn("event failed for good and has no failure destination or dead-letter queue", "condition", condition)
	}
	st.failed.Add(1)
	_ = msg.Ack()
}

// deliver sends body to the target, or, when that fails, stores it in the queue as a pending
// delivery that pollers retry. It reports whether the body is either delivered or stored.
func (s *Service) deliver(e *Event, target string, body []byte, h nats.Header, log *slog.Logger) bool {
	err := s.sender.Send(s.runCtx, target, e.RequestID, body, h)
	if err == nil {
		return true
	}
	log.Warn("could not deliver; keeping it queued to retry", "target", target, "err", err)
	pending := &Event{RequestID: e.RequestID, Function: e.Function, Qualifier: e.Qualifier, Payload: body,
		Received: e.Received, Attempt: e.Attempt, DeliverTo: target, Headers: h}
	if err := s.queue.put(s.runCtx, pending); err != nil {
		log.Warn("could not queue the delivery either; the event will be retried", "err", err)
		return false
	}
	return true
}

// redeliver retries a pending delivery until the event's age runs out.
func (s *Service) redeliver(msg jetstream.Msg, e *Event, cfg *EventInvokeConfig, deliveries uint64, log *slog.Logger) {
	if err := s.sender.Send(s.runCtx, e.DeliverTo, e.RequestID, e.Payload, e.Headers); err != nil {
		if s.cfg.Now().Sub(e.Received) > cfg.MaxAge() {
			log.Warn("dropping a delivery that could not be made within the event's age", "target", e.DeliverTo, "err", err)
			s.stats.of(e.Function).dropped.Add(1)
			_ = msg.Ack()
			return
		}
		_ = msg.NakWithDelay(s.throttleDelay(deliveries))
		return
	}
	if e.Headers != nil {
		s.stats.of(e.Function).deadLetters.Add(1)
	} else {
		s.stats.of(e.Function).destinations.Add(1)
	}
	_ = msg.Ack()
}

// throttleDelay is the back-off before the nth delivery's retry.
func (s *Service) throttleDelay(deliveries uint64) time.Duration {
	d := s.cfg.ThrottleBaseDelay
	for i := uint64(1); i < deliveries && d < MaxThrottleDelay; i++ {
		d *= 2
	}
	return min(d, MaxThrottleDelay)
}

func responseContext(resp *invoke.Response) *ResponseContext {
	status := resp.StatusCode
	if status == 0 {
		status = http.StatusOK
	}
	return &ResponseContext{StatusCode: status, ExecutedVersion: qualifierOrLatest(resp.ExecutedVersion), FunctionError: string(resp.FunctionError)}
}

func qualifierOrLatest(q string) string {
	if q == "" {
		return latest
	}
	return q
}

// errorMessage is the errorMessage of a function's error document, or the document itself.
func errorMessage(payload []byte) string {
	var doc struct {
		ErrorMessage string `json:"errorMessage"`
	}
	if err := jsonUnmarshal(payload, &doc); err == nil && doc.ErrorMessage != "" {
		return doc.ErrorMessage
	}
	return string(payload)
}

var errNoTarget = errors.New("async: no such target")
