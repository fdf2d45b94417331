package async

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

var jsonUnmarshal = json.Unmarshal

// Sender delivers invocation records and dead letters to their targets: a Lambda function
// (the body is queued as an asynchronous event of that function) or a NATS subject (the body
// is published through JetStream and acknowledged by the stream that captures the subject).
type Sender struct {
	js      jetstream.JetStream
	arns    ARNs
	enqueue func(context.Context, *Event) error
	now     func() time.Time
}

// Send delivers body, with headers h (used for a NATS subject only), to the target ARN.
// requestID names the invocation it is about; a function target's event gets an ID derived
// from it, so that a repeated delivery of the same record is stored once.
func (s *Sender) Send(ctx context.Context, target, requestID string, body []byte, h nats.Header) error {
	t, err := s.arns.ParseTarget(target, "destination")
	if err != nil {
		return fmt.Errorf("%w: %w", errNoTarget, err)
	}
	if t.Subject != "" {
		m := nats.NewMsg(t.Subject)
		m.Data = body
		for k, vs := range h {
			m.Header[k] = vs
		}
		kind := "/record/"
		if h != nil {
			kind = "/dead-letter/"
		}
		m.Header.Set(jetstream.MsgIDHeader, requestID+kind+target)
		if _, err := s.js.PublishMsg(ctx, m); err != nil {
			return fmt.Errorf("async: publishing to %s: %w", t.Subject, err)
		}
		return nil
	}
	// The destination's invocation has a request ID of its own, the same for every delivery of
	// this record.
	id := uuid.NewSHA1(uuid.NameSpaceURL, []byte(requestID+"\x00"+target)).String()
	return s.enqueue(ctx, &Event{RequestID: id, Function: t.Function, Qualifier: t.Qualifier,
		Payload: body, Received: s.now()})
}
