package esm

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ember-serverless/ember/internal/esm/filter"
)

// consumerName is the durable consumer of a mapping on its stream.
func consumerName(id string) string { return "esm-" + id }

// jsSource reads a JetStream stream through the mapping's durable consumer. A fetcher fills
// one buffer per lane (a record's lane is its subject's hash, so that a subject's records stay
// in order, as a Kinesis partition key's do); every record handed out or buffered is kept alive
// with InProgress until it is acknowledged.
type jsSource struct {
	m      *Mapping
	env    SourceEnv
	cons   jetstream.Consumer
	stream string
	lanes  int

	mu      sync.Mutex
	cond    *sync.Cond
	buf     [][]*Record
	held    map[*Record]jetstream.Msg // buffered or handed out, not yet done
	closing bool
	stop    context.CancelFunc
	wg      sync.WaitGroup
}

var _ Source = (*jsSource)(nil)

func openJetStream(ctx context.Context, m *Mapping, env SourceEnv) (Source, error) {
	src, err := ParseStreamARN(m.EventSourceArn, env.Region, env.AccountID)
	if err != nil {
		return nil, err
	}
	name := consumerName(m.UUID)
	cons, err := env.JetStream.Consumer(ctx, src.Stream, name)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		cfg := jetstream.ConsumerConfig{Durable: name, AckPolicy: jetstream.AckExplicitPolicy, AckWait: env.AckWait,
			MaxDeliver: -1, MaxAckPending: max(m.Parallelization()*m.BatchSize*2, 1000), FilterSubject: src.Filter,
			Description: "Ember event source mapping " + m.UUID + " of function " + m.Function}
		switch m.StartingPosition {
		case Latest:
			cfg.DeliverPolicy = jetstream.DeliverNewPolicy
		case AtTimestamp:
			cfg.DeliverPolicy = jetstream.DeliverByStartTimePolicy
			t := m.StartingPositionTimestamp.Time
			cfg.OptStartTime = &t
		default:
			cfg.DeliverPolicy = jetstream.DeliverAllPolicy
		}
		cons, err = env.JetStream.CreateConsumer(ctx, src.Stream, cfg)
	}
	if err != nil {
		return nil, fmt.Errorf("esm: consumer %s on stream %s: %w", name, src.Stream, err)
	}
	s := &jsSource{m: m, env: env, cons: cons, stream: src.Stream, lanes: m.Parallelization(), held: map[*Record]jetstream.Msg{}}
	s.cond = sync.NewCond(&s.mu)
	s.buf = make([][]*Record, s.lanes)
	fctx, stop := context.WithCancel(context.Background())
	s.stop = stop
	s.wg.Add(2)
	go s.fetch(fctx)
	go s.keepAlive(fctx)
	return s, nil
}

func (s *jsSource) Lanes() int { return s.lanes }

// fetch keeps the lanes' buffers filled up to a batch each.
func (s *jsSource) fetch(ctx context.Context) {
	defer s.wg.Done()
	limit := s.lanes * s.m.BatchSize
	for ctx.Err() == nil {
		s.mu.Lock()
		for s.buffered() >= limit && !s.closing {
			s.cond.Wait()
		}
		if s.closing {
			s.mu.Unlock()
			return
		}
		n := limit - s.buffered()
		s.mu.Unlock()
		wctx, cancel := context.WithTimeout(ctx, time.Second)
		batch, err := s.cons.Fetch(n, jetstream.FetchContext(wctx))
		if err != nil {
			cancel()
			if ctx.Err() == nil {
				s.env.Logger.Warn("could not fetch from the stream; retrying", "stream", s.stream, "err", err)
				sleep(ctx, time.Second)
			}
			continue
		}
		for msg := range batch.Messages() {
			r := s.record(msg)
			lane := 0
			if s.lanes > 1 {
				h := fnv.New32a()
				h.Write([]byte(msg.Subject()))
				lane = int(h.Sum32() % uint32(s.lanes))
			}
			s.mu.Lock()
			s.held[r] = msg
			s.buf[lane] = append(s.buf[lane], r)
			s.cond.Broadcast()
			s.mu.Unlock()
		}
		cancel()
	}
}

func (s *jsSource) buffered() int {
	n := 0
	for _, b := range s.buf {
		n += len(b)
	}
	return n
}

// keepAlive tells the stream every held record is still being worked on.
func (s *jsSource) keepAlive(ctx context.Context) {
	defer s.wg.Done()
	t := time.NewTicker(max(s.env.AckWait/3, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.mu.Lock()
		msgs := make([]jetstream.Msg, 0, len(s.held))
		for _, m := range s.held {
			msgs = append(msgs, m)
		}
		s.mu.Unlock()
		for _, m := range msgs {
			_ = m.InProgress()
		}
	}
}

// jsRecord is the "jetstream" member of an event's record, shaped like Kinesis' "kinesis".
type jsRecord struct {
	SchemaVersion               string              `json:"jetstreamSchemaVersion"`
	Stream                      string              `json:"stream"`
	Subject                     string              `json:"subject"`
	PartitionKey                string              `json:"partitionKey"`
	SequenceNumber              string              `json:"sequenceNumber"`
	Data                        []byte              `json:"data"`
	ApproximateArrivalTimestamp float64             `json:"approximateArrivalTimestamp"`
	Headers                     map[string][]string `json:"headers,omitempty"`
}

func (s *jsSource) record(msg jetstream.Msg) *Record {
	meta, _ := msg.Metadata()
	var seq uint64
	var at time.Time
	if meta != nil {
		seq, at = meta.Sequence.Stream, meta.Timestamp
	}
	jr := &jsRecord{SchemaVersion: "1.0", Stream: s.stream, Subject: msg.Subject(), PartitionKey: msg.Subject(),
		SequenceNumber: strconv.FormatUint(seq, 10), Data: msg.Data(), ApproximateArrivalTimestamp: float64(at.UnixMilli()) / 1000}
	if h := msg.Headers(); len(h) > 0 {
		jr.Headers = map[string][]string(h)
	}
	doc := map[string]any{"jetstreamSchemaVersion": jr.SchemaVersion, "stream": jr.Stream, "subject": jr.Subject,
		"partitionKey": jr.PartitionKey, "sequenceNumber": jr.SequenceNumber, "approximateArrivalTimestamp": jr.ApproximateArrivalTimestamp}
	if v, ok := filter.Decode(jr.Data); ok {
		doc["data"] = v
	} else {
		doc["data"] = string(jr.Data)
	}
	return &Record{ID: jr.SequenceNumber, Arrived: at, Doc: doc, Size: base64.StdEncoding.EncodedLen(len(jr.Data)) + 400, Handle: jr}
}

func (s *jsSource) Next(ctx context.Context, lane, maxRecs int, window time.Duration) ([]*Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := Gather(ctx, s.cond, maxRecs, window, func() int { return len(s.buf[lane]) }, nil); err != nil {
		return nil, err
	}
	n := min(len(s.buf[lane]), maxRecs)
	out := append([]*Record(nil), s.buf[lane][:n]...)
	s.buf[lane] = s.buf[lane][n:]
	s.cond.Broadcast() // room for the fetcher
	return out, nil
}

// jsEvent is the event a function receives from a JetStream mapping.
type jsEvent struct {
	Records []jsEventRecord `json:"Records"`
}

type jsEventRecord struct {
	JetStream      *jsRecord `json:"jetstream"`
	EventSource    string    `json:"eventSource"`
	EventVersion   string    `json:"eventVersion"`
	EventID        string    `json:"eventID"`
	EventName      string    `json:"eventName"`
	AWSRegion      string    `json:"awsRegion"`
	EventSourceARN string    `json:"eventSourceARN"`
}

// JetStream event constants.
const (
	JetStreamEventSource = "ember:jetstream"
	JetStreamEventName   = "ember:jetstream:record"
)

func (s *jsSource) Event(recs []*Record) []byte {
	ev := jsEvent{Records: make([]jsEventRecord, len(recs))}
	for i, r := range recs {
		jr := r.Handle.(*jsRecord)
		ev.Records[i] = jsEventRecord{JetStream: jr, EventSource: JetStreamEventSource, EventVersion: "1.0",
			EventID: jr.Stream + ":" + jr.SequenceNumber, EventName: JetStreamEventName, AWSRegion: s.env.Region,
			EventSourceARN: s.m.EventSourceArn}
	}
	b, _ := json.Marshal(ev)
	return b
}

func (s *jsSource) FailureInfo(recs []*Record) map[string]any {
	first, last := recs[0].Handle.(*jsRecord), recs[len(recs)-1].Handle.(*jsRecord)
	return map[string]any{"JetStreamBatchInfo": map[string]any{
		"stream":                          s.stream,
		"startSequenceNumber":             first.SequenceNumber,
		"endSequenceNumber":               last.SequenceNumber,
		"approximateArrivalOfFirstRecord": recs[0].Arrived.UTC().Format(time.RFC3339Nano),
		"approximateArrivalOfLastRecord":  recs[len(recs)-1].Arrived.UTC().Format(time.RFC3339Nano),
		"batchSize":                       len(recs),
		"streamArn":                       s.m.EventSourceArn,
	}}
}

func (s *jsSource) Working([]*Record) {} // keepAlive covers every held record

func (s *jsSource) take(recs []*Record) []jetstream.Msg {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]jetstream.Msg, 0, len(recs))
	for _, r := range recs {
		if m, ok := s.held[r]; ok {
			out = append(out, m)
			delete(s.held, r)
		}
	}
	return out
}

func (s *jsSource) Done(ctx context.Context, recs []*Record) error {
	for _, m := range s.take(recs) {
		_ = m.Ack()
	}
	return nil
}

func (s *jsSource) Release(recs []*Record) {
	for _, m := range s.take(recs) {
		_ = m.Nak()
	}
}

func (s *jsSource) Pending(ctx context.Context) int64 {
	info, err := s.cons.Info(ctx)
	if err != nil {
		return -1
	}
	return int64(info.NumPending) + int64(info.NumAckPending)
}

// Close stops fetching and hands every record not done back to the stream.
func (s *jsSource) Close() {
	s.mu.Lock()
	s.closing = true
	s.cond.Broadcast()
	s.mu.Unlock()
	s.stop()
	s.wg.Wait()
	s.mu.Lock()
	msgs := make([]jetstream.Msg, 0, len(s.held))
	for _, m := range s.held {
		msgs = append(msgs, m)
	}
	s.held = map[*Record]jetstream.Msg{}
	s.buf = make([][]*Record, s.lanes)
	s.mu.Unlock()
	for _, m := range msgs {
		_ = m.Nak()
	}
}

// deleteConsumer removes a deleted mapping's durable consumer.
func (s *Service) deleteConsumer(m *Mapping) {
	src, err := ParseStreamARN(m.EventSourceArn, s.cfg.ARNs.Region, s.cfg.ARNs.AccountID)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.cfg.JetStream.DeleteConsumer(ctx, src.Stream, consumerName(m.UUID)); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		s.logger.Warn("could not delete a deleted mapping's consumer", "uuid", m.UUID, "err", err)
	}
}
