package kafka

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ember-serverless/ember/internal/esm"
	"github.com/ember-serverless/ember/internal/esm/filter"
)

// EventSource is the event's eventSource, as Lambda's.
const EventSource = "SelfManagedKafka"

// DefaultLanes is how many batches of a mapping run at once when ScalingConfig does not say:
// a partition always goes to the same lane (partition mod lanes), so its records stay in order.
const DefaultLanes = 4

// source is one mapping's consumer group member.
type source struct {
	m       *esm.Mapping
	cl      *kgo.Client
	topic   string
	servers string
	lanes   int
	log     interface{ Warn(string, ...any) }

	mu      sync.Mutex
	cond    *sync.Cond
	buf     [][]*esm.Record
	hw      map[int32]int64 // a partition's high watermark, as last fetched
	next    map[int32]int64 // the offset after a partition's last record done
	closing bool
	stop    context.CancelFunc
	wg      sync.WaitGroup
}

// record is a Kafka record as the event carries it.
type record struct {
	Topic         string                 `json:"topic"`
	Partition     int32                  `json:"partition"`
	Offset        int64                  `json:"offset"`
	Timestamp     int64                  `json:"timestamp"`
	TimestampType string                 `json:"timestampType"`
	Key           string                 `json:"key,omitempty"`
	Value         string                 `json:"value"`
	Headers       []map[string]byteArray `json:"headers"`
	epoch         int32
}

// byteArray is a header's value as Lambda prints it: an array of byte values, not base64.
type byteArray []byte

// MarshalJSON prints the bytes as numbers.
func (b byteArray) MarshalJSON() ([]byte, error) {
	var sb strings.Builder
	sb.WriteByte('[')
	for i, c := range b {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(strconv.Itoa(int(c)))
	}
	sb.WriteByte(']')
	return []byte(sb.String()), nil
}

// Open joins the mapping's consumer group and starts fetching.
func Open(ctx context.Context, m *esm.Mapping, env esm.SourceEnv) (esm.Source, error) {
	if m.SelfManagedEventSource == nil || len(m.Topics) != 1 {
		return nil, errors.New("kafka: the mapping has no bootstrap servers or topic")
	}
	servers := m.SelfManagedEventSource.Endpoints[esm.KafkaBootstrapServersType]
	group := m.UUID
	if m.SelfManagedKafkaEventSourceConfig != nil && m.SelfManagedKafkaEventSourceConfig.ConsumerGroupId != "" {
		group = m.SelfManagedKafkaEventSourceConfig.ConsumerGroupId
	}
	reset := kgo.NewOffset().AtStart()
	switch m.StartingPosition {
	case esm.Latest:
		reset = kgo.NewOffset().AtEnd()
	case esm.AtTimestamp:
		reset = kgo.NewOffset().AfterMilli(m.StartingPositionTimestamp.UnixMilli())
	}
	lanes := DefaultLanes
	if c := m.MaxConcurrency(); c > 0 {
		lanes = c
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(servers...), kgo.ConsumerGroup(group), kgo.ConsumeTopics(m.Topics[0]),
		kgo.DisableAutoCommit(), kgo.ConsumeResetOffset(reset), kgo.FetchMaxWait(time.Second),
		kgo.ClientID("ember-esm-"+m.UUID))
	if err != nil {
		return nil, fmt.Errorf("kafka: %w", err)
	}
	if err := cl.Ping(ctx); err != nil {
		cl.Close()
		return nil, fmt.Errorf("kafka: reaching %s: %w", strings.Join(servers, ","), err)
	}
	s := &source{m: m, cl: cl, topic: m.Topics[0], servers: strings.Join(servers, ","), lanes: lanes, log: env.Logger,
		buf: make([][]*esm.Record, lanes), hw: map[int32]int64{}, next: map[int32]int64{}}
	s.cond = sync.NewCond(&s.mu)
	fctx, stop := context.WithCancel(context.Background())
	s.stop = stop
	s.wg.Add(1)
	go s.fetch(fctx)
	return s, nil
}

var _ esm.Source = (*source)(nil)

func (s *source) Lanes() int { return s.lanes }

func (s *source) buffered() int {
	n := 0
	for _, b := range s.buf {
		n += len(b)
	}
	return n
}

func (s *source) fetch(ctx context.Context) {
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
		room := limit - s.buffered()
		s.mu.Unlock()
		fs := s.cl.PollRecords(ctx, room)
		if fs.IsClientClosed() || ctx.Err() != nil {
			return
		}
		for _, e := range fs.Errors() {
			if !errors.Is(e.Err, context.Canceled) {
				s.log.Warn("kafka fetch error", "topic", e.Topic, "partition", e.Partition, "err", e.Err)
			}
		}
		fs.EachPartition(func(p kgo.FetchTopicPartition) {
			s.mu.Lock()
			defer s.mu.Unlock()
			if p.HighWatermark > 0 {
				s.hw[p.Partition] = p.HighWatermark
			}
			lane := int(p.Partition) % s.lanes
			for _, r := range p.Records {
				s.buf[lane] = append(s.buf[lane], s.record(r))
			}
			s.cond.Broadcast()
		})
	}
}

func (s *source) record(r *kgo.Record) *esm.Record {
	rec := &record{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp.UnixMilli(),
		TimestampType: "CREATE_TIME", Value: base64.StdEncoding.EncodeToString(r.Value), Headers: []map[string]byteArray{}, epoch: r.LeaderEpoch}
	if r.Attrs.TimestampType() == 1 {
		rec.TimestampType = "LOG_APPEND_TIME"
	}
	if r.Key != nil {
		rec.Key = base64.StdEncoding.EncodeToString(r.Key)
	}
	headers := make([]any, 0, len(r.Headers))
	for _, h := range r.Headers {
		rec.Headers = append(rec.Headers, map[string]byteArray{h.Key: h.Value})
		headers = append(headers, map[string]any{h.Key: string(h.Value)})
	}
	doc := map[string]any{"topic": rec.Topic, "partition": float64(rec.Partition), "offset": float64(rec.Offset),
		"timestamp": float64(rec.Timestamp), "timestampType": rec.TimestampType, "headers": headers}
	if v, ok := filter.Decode(r.Value); ok {
		doc["value"] = v
	} else {
		doc["value"] = string(r.Value)
	}
	if r.Key != nil {
		if v, ok := filter.Decode(r.Key); ok {
			doc["key"] = v
		} else {
			doc["key"] = string(r.Key)
		}
	}
	return &esm.Record{ID: rec.Topic + "-" + strconv.Itoa(int(rec.Partition)) + "-" + strconv.FormatInt(rec.Offset, 10),
		Arrived: r.Timestamp, Doc: doc, Size: len(rec.Value) + len(rec.Key) + 200, Handle: rec}
}

// Next hands out a lane's next records, all of one partition, so that a failure record names
// one partition's offsets.
func (s *source) Next(ctx context.Context, lane, maxRecs int, window time.Duration) ([]*esm.Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := esm.Gather(ctx, s.cond, maxRecs, window, func() int { return len(s.buf[lane]) }, nil); err != nil {
		return nil, err
	}
	b := s.buf[lane]
	part := b[0].Handle.(*record).Partition
	n := 0
	for n < len(b) && n < maxRecs && b[n].Handle.(*record).Partition == part {
		n++
	}
	out := append([]*esm.Record(nil), b[:n]...)
	s.buf[lane] = b[n:]
	s.cond.Broadcast()
	return out, nil
}

// event is Lambda's self-managed Kafka event.
type event struct {
	EventSource      string               `json:"eventSource"`
	BootstrapServers string               `json:"bootstrapServers"`
	Records          map[string][]*record `json:"records"`
}

func (s *source) Event(recs []*esm.Record) []byte {
	ev := event{EventSource: EventSource, BootstrapServers: s.servers, Records: map[string][]*record{}}
	for _, r := range recs {
		kr := r.Handle.(*record)
		key := kr.Topic + "-" + strconv.Itoa(int(kr.Partition))
		ev.Records[key] = append(ev.Records[key], kr)
	}
	b, _ := jsonMarshal(ev)
	return b
}

// FailureInfo is Lambda's KafkaBatchInfo, with the batch itself as "payload" as Lambda's Kafka
// failure records carry it.
func (s *source) FailureInfo(recs []*esm.Record) map[string]any {
	first, last := recs[0].Handle.(*record), recs[len(recs)-1].Handle.(*record)
	return map[string]any{
		"KafkaBatchInfo": map[string]any{
			"batchSize":                       len(recs),
			"bootstrapServers":                s.servers,
			"topic":                           first.Topic,
			"partition":                       first.Partition,
			"startOffset":                     first.Offset,
			"endOffset":                       last.Offset,
			"approximateArrivalOfFirstRecord": recs[0].Arrived.UTC().Format(time.RFC3339Nano),
			"approximateArrivalOfLastRecord":  recs[len(recs)-1].Arrived.UTC().Format(time.RFC3339Nano),
		},
		"payload": rawJSON(s.Event(recs)),
	}
}

func (s *source) Working([]*esm.Record) {} // Kafka has no per-record lease

// Done commits, per partition, the offset after the last record done.
func (s *source) Done(ctx context.Context, recs []*esm.Record) error {
	if len(recs) == 0 {
		return nil
	}
	offsets := map[int32]kgo.EpochOffset{}
	for _, r := range recs {
		kr := r.Handle.(*record)
		if o, ok := offsets[kr.Partition]; !ok || kr.Offset+1 > o.Offset {
			offsets[kr.Partition] = kgo.EpochOffset{Epoch: kr.epoch, Offset: kr.Offset + 1}
		}
	}
	var cerr error
	s.cl.CommitOffsetsSync(ctx, map[string]map[int32]kgo.EpochOffset{s.topic: offsets}, func(_ *kgo.Client, _ *kmsgReq, resp *kmsgResp, err error) {
		if err != nil {
			cerr = err
			return
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if e := kerrOf(p.ErrorCode); e != nil {
					cerr = e
				}
			}
		}
	})
	if cerr != nil {
		return fmt.Errorf("kafka: committing offsets: %w", cerr)
	}
	s.mu.Lock()
	for p, o := range offsets {
		s.next[p] = o.Offset
	}
	s.mu.Unlock()
	return nil
}

// Release does nothing: records not committed are read again by the group's next member.
func (s *source) Release([]*esm.Record) {}

// Pending is the records between each partition's last commit (by this member) and its high
// watermark, as last fetched.
func (s *source) Pending(context.Context) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.hw) == 0 {
		return -1
	}
	var n int64
	for p, hw := range s.hw {
		if next, ok := s.next[p]; ok && hw > next {
			n += hw - next
		}
	}
	return n
}

func (s *source) Close() {
	s.mu.Lock()
	s.closing = true
	s.cond.Broadcast()
	s.mu.Unlock()
	s.stop()
	s.cl.Close()
	s.wg.Wait()
}
