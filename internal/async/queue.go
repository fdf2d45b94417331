package async

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ember-serverless/ember/internal/lambdaerr"
)

// The queue's stream and subjects. Each function's events go to a subject of its own, read by a
// consumer of its own, so one function's backlog does not delay another's events.
const (
	StreamName    = "EMBER_ASYNC"
	SubjectPrefix = "ember.async."
)

// Headers an event carries; its body is the payload, untouched.
const (
	hdrFunction  = "Ember-Function"
	hdrQualifier = "Ember-Qualifier"
	hdrReceived  = "Ember-Received" // Unix nanoseconds
	hdrAttempt   = "Ember-Attempt"  // function-error retries made so far
	hdrNotBefore = "Ember-Not-Before"
	hdrRequestID = "Ember-Request-Id"
	// hdrDeliverTo marks a message that is not an event but a record or dead letter still to
	// be delivered to the target ARN it names (a first attempt failed).
	hdrDeliverTo = "Ember-Deliver-To"
	// hdrDeliverHeaders carries the dead letter's own headers, prefixed, for a pending delivery.
	hdrDeliverPrefix = "Ember-Deliver-Hdr-"
)

// Event is one queued asynchronous invocation.
type Event struct {
	RequestID string
	Function  string
	Qualifier string
	Payload   []byte
	// Received is when the event was accepted; its age counts from here.
	Received time.Time
	// Attempt counts the function-error retries already made (0 for the first run).
	Attempt int
	// NotBefore, when set, is the earliest time the event may run (a retry's back-off).
	NotBefore time.Time
	// DeliverTo, when set, makes the message a pending delivery of Payload to that ARN.
	DeliverTo string
	// Headers are a pending delivery's own headers.
	Headers nats.Header
}

// Subject is the subject a function's events are queued on.
func Subject(function string) string { return SubjectPrefix + function }

func (e *Event) msg() *nats.Msg {
	m := nats.NewMsg(Subject(e.Function))
	m.Data = e.Payload
	m.Header.Set(hdrFunction, e.Function)
	if e.Qualifier != "" {
		m.Header.Set(hdrQualifier, e.Qualifier)
	}
	m.Header.Set(hdrRequestID, e.RequestID)
	m.Header.Set(hdrReceived, strconv.FormatInt(e.Received.UnixNano(), 10))
	m.Header.Set(hdrAttempt, strconv.Itoa(e.Attempt))
	if !e.NotBefore.IsZero() {
		m.Header.Set(hdrNotBefore, strconv.FormatInt(e.NotBefore.UnixNano(), 10))
	}
	if e.DeliverTo != "" {
		m.Header.Set(hdrDeliverTo, e.DeliverTo)
		for k, vs := range e.Headers {
			for _, v := range vs {
				m.Header.Add(hdrDeliverPrefix+k, v)
			}
		}
	}
	// The message ID makes a publish that is retried after a lost acknowledgment a no-op.
	m.Header.Set(jetstream.MsgIDHeader, e.RequestID+"/"+strconv.Itoa(e.Attempt)+e.DeliverTo)
	return m
}

// decodeEvent reads a queued message.
func decodeEvent(m jetstream.Msg) (*Event, error) {
	h := m.Headers()
	e := &Event{Function: h.Get(hdrFunction), Qualifier: h.Get(hdrQualifier), RequestID: h.Get(hdrRequestID),
		Payload: m.Data(), DeliverTo: h.Get(hdrDeliverTo)}
	if e.Function == "" || e.RequestID == "" {
		return nil, errors.New("async: a queued message without its function or request ID")
	}
	ns, err := strconv.ParseInt(h.Get(hdrReceived), 10, 64)
	if err != nil {
		return nil, fmt.Errorf("async: queued message %s: received time: %w", e.RequestID, err)
	}
	e.Received = time.Unix(0, ns)
	if e.Attempt, err = strconv.Atoi(h.Get(hdrAttempt)); err != nil {
		return nil, fmt.Errorf("async: queued message %s: attempt: %w", e.RequestID, err)
	}
	if v := h.Get(hdrNotBefore); v != "" {
		ns, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("async: queued message %s: not-before: %w", e.RequestID, err)
		}
		e.NotBefore = time.Unix(0, ns)
	}
	if e.DeliverTo != "" {
		e.Headers = nats.Header{}
		for k, vs := range h {
			if len(k) > len(hdrDeliverPrefix) && k[:len(hdrDeliverPrefix)] == hdrDeliverPrefix {
				e.Headers[k[len(hdrDeliverPrefix):]] = vs
			}
		}
	}
	return e, nil
}

// queue is the stream events are stored in.
type queue struct {
	js     jetstream.JetStream
	stream jetstream.Stream
}

func openQueue(ctx context.Context, js jetstream.JetStream, replicas int) (*queue, error) {
	st, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        StreamName,
		Description: "Ember's asynchronous invocations, one subject per function",
		Subjects:    []string{SubjectPrefix + ">"},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
		Discard:     jetstream.DiscardNew,
		Duplicates:  2 * time.Minute,
		MaxMsgSize:  MaxEventPayload + 64<<10,
	})
	if err != nil {
		return nil, fmt.Errorf("async: queue stream: %w", err)
	}
	return &queue{js: js, stream: st}, nil
}

// put stores an event; it returns once JetStream has acknowledged it, stored.
func (q *queue) put(ctx context.Context, e *Event) error {
	if _, err := q.js.PublishMsg(ctx, e.msg()); err != nil {
		return fmt.Errorf("async: queueing event %s of %s: %w", e.RequestID, e.Function, err)
	}
	return nil
}

// errDraining is the intake's answer while the server shuts down.
var errDraining = &lambdaerr.Error{Type: lambdaerr.ServiceUnavailable, RetryAfterSeconds: 1,
	Message: "The server is shutting down and accepts no asynchronous invocations; retry shortly (or against another server)."}
