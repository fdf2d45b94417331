package rabbitmq

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/ember-serverless/ember/internal/esm"
	"github.com/ember-serverless/ember/internal/esm/filter"
)

// EventSource is the event's eventSource, as Lambda's.
const EventSource = "aws:rmq"

// source consumes one queue.
type source struct {
	m     *esm.Mapping
	conn  *amqp.Connection
	ch    *amqp.Channel
	queue string
	vhost string
	lanes int

	mu      sync.Mutex
	cond    *sync.Cond
	buf     []*esm.Record
	held    map[*esm.Record]amqp.Delivery
	failed  error
	closing bool
	wg      sync.WaitGroup
}

var _ esm.Source = (*source)(nil)

// Open connects to the mapping's broker and starts consuming its queue.
func Open(ctx context.Context, m *esm.Mapping, env esm.SourceEnv) (esm.Source, error) {
	b, err := esm.ParseBrokerARN(m.EventSourceArn, env.Region, env.AccountID)
	if err != nil {
		return nil, err
	}
	auth, err := esm.ReadBasicAuth(env.SecretsDir, m.BasicAuthURI(), env.Region, env.AccountID)
	if err != nil {
		return nil, err
	}
	lanes := 1
	if c := m.MaxConcurrency(); c > 0 {
		lanes = c
	}
	conn, err := amqp.DialConfig("amqp://"+net.JoinHostPort(b.Host, b.Port)+"/", amqp.Config{
		SASL: []amqp.Authentication{&amqp.PlainAuth{Username: auth.Username, Password: auth.Password}}, Vhost: m.VirtualHost(),
		Dial: amqp.DefaultDial(10 * time.Second), Properties: amqp.Table{"connection_name": "ember-esm-" + m.UUID}})
	if err != nil {
		return nil, fmt.Errorf("rabbitmq: connecting to %s: %w", net.JoinHostPort(b.Host, b.Port), err)
	}
	ch, err := conn.Channel()
	if err == nil {
		err = ch.Qos(min(lanes*m.BatchSize, 65535), 0, false)
	}
	var deliveries <-chan amqp.Delivery
	if err == nil {
		deliveries, err = ch.Consume(m.Queues[0], "ember-esm-"+m.UUID, false, false, false, false, nil)
	}
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("rabbitmq: consuming %s: %w", m.Queues[0], err)
	}
	s := &source{m: m, conn: conn, ch: ch, queue: m.Queues[0], vhost: m.VirtualHost(), lanes: lanes, held: map[*esm.Record]amqp.Delivery{}}
	s.cond = sync.NewCond(&s.mu)
	s.wg.Add(1)
	go s.receive(deliveries)
	return s, nil
}

func (s *source) receive(deliveries <-chan amqp.Delivery) {
	defer s.wg.Done()
	for d := range deliveries {
		r := s.record(d)
		s.mu.Lock()
		s.held[r] = d
		s.buf = append(s.buf, r)
		s.cond.Broadcast()
		s.mu.Unlock()
	}
	s.mu.Lock()
	if !s.closing {
		s.failed = errors.New("rabbitmq: the broker closed the consumer")
	}
	s.cond.Broadcast()
	s.mu.Unlock()
}

func (s *source) Lanes() int { return s.lanes }

// message is one message of the event.
type message struct {
	BasicProperties basicProperties `json:"basicProperties"`
	Redelivered     bool            `json:"redelivered"`
	Data            string          `json:"data"`
}

// basicProperties are Lambda's rendering of AMQP's basic properties: absent ones are null.
type basicProperties struct {
	ContentType     *string        `json:"contentType"`
	ContentEncoding *string        `json:"contentEncoding"`
	Headers         map[string]any `json:"headers"`
	DeliveryMode    *uint8         `json:"deliveryMode"`
	Priority        *uint8         `json:"priority"`
	CorrelationID   *string        `json:"correlationId"`
	ReplyTo         *string        `json:"replyTo"`
	Expiration      *string        `json:"expiration"`
	MessageID       *string        `json:"messageId"`
	Timestamp       *string        `json:"timestamp"`
	Type            *string        `json:"type"`
	UserID          *string        `json:"userId"`
	AppID           *string        `json:"appId"`
	ClusterID       *string        `json:"clusterId"`
	BodySize        int            `json:"bodySize"`
}

func str(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func u8(v uint8) *uint8 {
	if v == 0 {
		return nil
	}
	return &v
}

// headerValue renders a header as Lambda does: text as {"bytes":[...]}, numbers and booleans
// as themselves.
func headerValue(v any) any {
	switch v := v.(type) {
	case string:
		return map[string]any{"bytes": byteValues([]byte(v))}
	case []byte:
		return map[string]any{"bytes": byteValues(v)}
	case amqp.Table:
		out := map[string]any{}
		for k, x := range v {
			out[k] = headerValue(x)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = headerValue(x)
		}
		return out
	case time.Time:
		return v.Unix()
	}
	return v
}

func byteValues(b []byte) []int {
	out := make([]int, len(b))
	for i, c := range b {
		out[i] = int(c)
	}
	return out
}

// TimestampLayout is how Lambda prints a message's timestamp: "Jan 1, 1970, 12:33:41 AM".
const TimestampLayout = "Jan 2, 2006, 3:04:05 PM"

func (s *source) record(d amqp.Delivery) *esm.Record {
	msg := &message{Redelivered: d.Redelivered, Data: base64.StdEncoding.EncodeToString(d.Body), BasicProperties: basicProperties{
		ContentType: str(d.ContentType), ContentEncoding: str(d.ContentEncoding), DeliveryMode: u8(d.DeliveryMode), Priority: u8(d.Priority),
		CorrelationID: str(d.CorrelationId), ReplyTo: str(d.ReplyTo), Expiration: str(d.Expiration), MessageID: str(d.MessageId),
		Type: str(d.Type), UserID: str(d.UserId), AppID: str(d.AppId), BodySize: len(d.Body)}}
	if !d.Timestamp.IsZero() {
		msg.BasicProperties.Timestamp = str(d.Timestamp.UTC().Format(TimestampLayout))
	}
	if len(d.Headers) > 0 {
		msg.BasicProperties.Headers = map[string]any{}
		for k, v := range d.Headers {
			msg.BasicProperties.Headers[k] = headerValue(v)
		}
	}
	var doc map[string]any
	b, _ := json.Marshal(msg)
	_ = json.Unmarshal(b, &doc)
	if v, ok := filter.Decode(d.Body); ok {
		doc["data"] = v
	} else {
		doc["data"] = string(d.Body)
	}
	arrived := d.Timestamp
	if arrived.IsZero() {
		arrived = time.Now()
	}
	id := d.MessageId
	if id == "" {
		id = strconv.FormatUint(d.DeliveryTag, 10)
	}
	return &esm.Record{ID: id, Arrived: arrived, Doc: doc, Size: len(msg.Data) + 400, Handle: msg}
}

// Next hands out the queue's next messages; lanes share them (a queue has no order to keep
// beyond the broker's).
func (s *source) Next(ctx context.Context, _ int, maxRecs int, window time.Duration) ([]*esm.Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := esm.Gather(ctx, s.cond, maxRecs, window, func() int { return len(s.buf) }, func() error { return s.failed }); err != nil {
		return nil, err
	}
	n := min(len(s.buf), maxRecs)
	out := append([]*esm.Record(nil), s.buf[:n]...)
	s.buf = s.buf[n:]
	return out, nil
}

// event is Lambda's Amazon MQ for RabbitMQ event.
type event struct {
	EventSource        string                `json:"eventSource"`
	EventSourceArn     string                `json:"eventSourceArn"`
	RMQMessagesByQueue map[string][]*message `json:"rmqMessagesByQueue"`
}

func (s *source) Event(recs []*esm.Record) []byte {
	msgs := make([]*message, len(recs))
	for i, r := range recs {
		msgs[i] = r.Handle.(*message)
	}
	b, _ := json.Marshal(event{EventSource: EventSource, EventSourceArn: s.m.EventSourceArn,
		RMQMessagesByQueue: map[string][]*message{s.queue + "::" + s.vhost: msgs}})
	return b
}

// FailureInfo is not used: RabbitMQ mappings have no OnFailure destination, as Lambda's.
func (s *source) FailureInfo(recs []*esm.Record) map[string]any {
	return map[string]any{"RabbitMQBatchInfo": map[string]any{"queue": s.queue, "virtualHost": s.vhost, "batchSize": len(recs)}}
}

func (s *source) Working([]*esm.Record) {} // a delivery stays unacknowledged while the channel lives

func (s *source) take(recs []*esm.Record) []amqp.Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]amqp.Delivery, 0, len(recs))
	for _, r := range recs {
		if d, ok := s.held[r]; ok {
			out = append(out, d)
			delete(s.held, r)
		}
	}
	return out
}

// Done acknowledges each message. An acknowledgement that fails means the channel is gone;
// the broker then requeues what it did not see acknowledged, so there is nothing to retry.
func (s *source) Done(_ context.Context, recs []*esm.Record) error {
	for _, d := range s.take(recs) {
		_ = d.Ack(false)
	}
	return nil
}

// Release requeues messages not done.
func (s *source) Release(recs []*esm.Record) {
	for _, d := range s.take(recs) {
		_ = d.Nack(false, true)
	}
}

// Pending is the queue's ready messages.
func (s *source) Pending(context.Context) int64 {
	q, err := s.ch.QueueDeclarePassive(s.queue, false, false, false, false, nil)
	if err != nil {
		return -1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return int64(q.Messages + len(s.held))
}

// Close closes the connection: the broker requeues every message not acknowledged.
func (s *source) Close() {
	s.mu.Lock()
	s.closing = true
	s.cond.Broadcast()
	s.mu.Unlock()
	_ = s.conn.Close()
	s.wg.Wait()
}
