package kafka_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ember-serverless/ember/internal/async"
	"github.com/ember-serverless/ember/internal/esm"
	"github.com/ember-serverless/ember/internal/esm/kafka"
	"github.com/ember-serverless/ember/internal/invoke"
	"github.com/ember-serverless/ember/internal/lambdaerr"
	"github.com/ember-serverless/ember/internal/state/statetest"
)

var arns = async.ARNs{Region: "us-east-1", AccountID: "000000000000"}

type kafkaEvent struct {
	EventSource      string `json:"eventSource"`
	BootstrapServers string `json:"bootstrapServers"`
	Records          map[string][]struct {
		Topic         string             `json:"topic"`
		Partition     int32              `json:"partition"`
		Offset        int64              `json:"offset"`
		Timestamp     int64              `json:"timestamp"`
		TimestampType string             `json:"timestampType"`
		Key           string             `json:"key"`
		Value         string             `json:"value"`
		Headers       []map[string][]int `json:"headers"`
	} `json:"records"`
}

// fn is the function: it keeps every event and answers with answer.
type fn struct {
	mu     sync.Mutex
	events []kafkaEvent
	raw    [][]byte
	answer func(kafkaEvent) (*invoke.Response, error)
}

func (f *fn) Exists(string, string) error { return nil }

func (f *fn) Invoke(ctx context.Context, req *invoke.Request) (*invoke.Response, error) {
	var ev kafkaEvent
	if err := json.Unmarshal(req.Payload, &ev); err != nil {
		panic(err)
	}
	f.mu.Lock()
	a := f.answer
	f.mu.Unlock()
	resp, err := a(ev)
	if err == nil {
		f.mu.Lock()
		f.events = append(f.events, ev)
		f.raw = append(f.raw, req.Payload)
		f.mu.Unlock()
	}
	return resp, err
}

func okAnswer(kafkaEvent) (*invoke.Response, error) {
	return &invoke.Response{StatusCode: 200, Payload: []byte("null")}, nil
}

// values is every value the function was handed, by partition, in order.
func (f *fn) values(t *testing.T) map[int32][]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[int32][]string{}
	for _, ev := range f.events {
		for _, rs := range ev.Records {
			for _, r := range rs {
				v, _ := base64.StdEncoding.DecodeString(r.Value)
				out[r.Partition] = append(out[r.Partition], string(v))
			}
		}
	}
	return out
}

func (f *fn) count(t *testing.T) int {
	n := 0
	for _, vs := range f.values(t) {
		n += len(vs)
	}
	return n
}

type sender struct {
	mu   sync.Mutex
	sent [][]byte
}

func (s *sender) Send(_ context.Context, _, _ string, body []byte, _ nats.Header) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent = append(s.sent, body)
	return nil
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func newCluster(t *testing.T, topic string, partitions int32) (*kfake.Cluster, *kgo.Client) {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, topic))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	p, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return c, p
}

func produce(t *testing.T, p *kgo.Client, rs ...*kgo.Record) {
	t.Helper()
	if err := p.ProduceSync(context.Background(), rs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

func TestKafkaRecordsArriveAsLambdasSelfManagedKafkaEventAndOffsetsAreCommittedAfterSuccess(t *testing.T) {
	c, p := newCluster(t, "orders", 2)
	st := statetest.New(t)
	f := &fn{answer: okAnswer}
	snd := &sender{}
	start := func() *esm.Service {
		svc, err := esm.New(context.Background(), esm.Config{JetStream: st.JetStream(), Invoker: f, Functions: f, Sender: snd, ARNs: arns,
			Sources: map[esm.Kind]esm.SourceFactory{esm.KindKafka: kafka.Open}, RetryBaseDelay: 10 * time.Millisecond, ThrottleBaseDelay: 10 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		svc.Start()
		return svc
	}
	svc := start()
	defer func() { svc.Close() }()
	for i := range 10 {
		produce(t, p, &kgo.Record{Topic: "orders", Partition: int32(i % 2), Key: []byte("k"), Value: fmt.Appendf(nil, "v%d", i),
			Headers: []kgo.RecordHeader{{Key: "h", Value: []byte("AB")}}})
	}
	m, err := svc.Create(context.Background(), &esm.Input{FunctionName: ptr("fn"), Topics: []string{"orders"}, StartingPosition: ptr(esm.TrimHorizon),
		BatchSize: ptr(3), SelfManagedEventSource: &esm.SelfManagedEventSource{Endpoints: map[string][]string{"KAFKA_BOOTSTRAP_SERVERS": c.ListenAddrs()}},
		SelfManagedKafkaEventSourceConfig: &esm.KafkaConfig{ConsumerGroupId: "orders-group"}})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return f.count(t) == 10 }, "10 records")
	got := f.values(t)
	if !slices.Equal(got[0], []string{"v0", "v2", "v4", "v6", "v8"}) || !slices.Equal(got[1], []string{"v1", "v3", "v5", "v7", "v9"}) {
		t.Fatalf("records by partition %v, want each partition in order", got)
	}
	ev := f.events[0]
	if ev.EventSource != "SelfManagedKafka" || ev.BootstrapServers != c.ListenAddrs()[0] {
		t.Errorf("event %+v", ev)
	}
	for key, rs := range ev.Records {
		r := rs[0]
		if key != fmt.Sprintf("orders-%d", r.Partition) || r.Topic != "orders" || r.Key != base64.StdEncoding.EncodeToString([]byte("k")) ||
			r.TimestampType != "CREATE_TIME" || r.Timestamp < time.Now().Add(-time.Minute).UnixMilli() ||
			len(r.Headers) != 1 || !slices.Equal(r.Headers[0]["h"], []int{65, 66}) {
			t.Errorf("record %s: %+v", key, r)
		}
		if len(rs) > 3 {
			t.Errorf("a batch of %d, over BatchSize 3", len(rs))
		}
	}
	if m.SelfManagedKafkaEventSourceConfig.ConsumerGroupId != "orders-group" {
		t.Errorf("consumer group %+v", m.SelfManagedKafkaEventSourceConfig)
	}

	// Records the function has not processed are not committed: a mapping that stops while
	// they are throttled hands them to the next start, and the processed ones are not read again.
	f.mu.Lock()
	f.answer = func(kafkaEvent) (*invoke.Response, error) {
		return nil, lambdaerr.New(lambdaerr.TooManyRequests, "Rate Exceeded.")
	}
	f.mu.Unlock()
	produce(t, p, &kgo.Record{Topic: "orders", Partition: 0, Value: []byte("late")})
	waitFor(t, func() bool { return svc.Stats()[0].Throttled > 0 }, "the late record to be throttled")
	svc.Close()
	f.mu.Lock()
	f.answer = okAnswer
	f.mu.Unlock()
	svc = start()
	waitFor(t, func() bool { return f.count(t) >= 11 }, "the late record after the restart")
	time.Sleep(300 * time.Millisecond) // nothing already committed may come again
	if got := f.values(t); !slices.Equal(got[0], []string{"v0", "v2", "v4", "v6", "v8", "late"}) || len(got[1]) != 5 {
		t.Fatalf("after the restart the function had %v: committed records came again, or the late one is missing", got)
	}
}

func TestAKafkaPoisonRecordGoesToTheFailureDestinationWithItsBatch(t *testing.T) {
	c, p := newCluster(t, "t", 1)
	st := statetest.New(t)
	f := &fn{answer: func(ev kafkaEvent) (*invoke.Response, error) {
		for _, rs := range ev.Records {
			for _, r := range rs {
				if v, _ := base64.StdEncoding.DecodeString(r.Value); string(v) == "poison" {
					return &invoke.Response{StatusCode: 200, FunctionError: "Unhandled", Payload: []byte(`{"errorMessage":"poison"}`)}, nil
				}
			}
		}
		return okAnswer(ev)
	}}
	snd := &sender{}
	svc, err := esm.New(context.Background(), esm.Config{JetStream: st.JetStream(), Invoker: f, Functions: f, Sender: snd, ARNs: arns,
		Sources: map[esm.Kind]esm.SourceFactory{esm.KindKafka: kafka.Open}, RetryBaseDelay: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	svc.Start()
	defer svc.Close()
	for _, v := range []string{"a", "poison", "b"} {
		produce(t, p, &kgo.Record{Topic: "t", Value: []byte(v)})
	}
	_, err = svc.Create(context.Background(), &esm.Input{FunctionName: ptr("fn"), Topics: []string{"t"}, StartingPosition: ptr(esm.TrimHorizon),
		BatchSize: ptr(1), MaximumRetryAttempts: ptr(1),
		DestinationConfig:      &esm.DestinationConfig{OnFailure: &async.Destination{Destination: "arn:aws:nats:us-east-1:000000000000:subject:kfail"}},
		SelfManagedEventSource: &esm.SelfManagedEventSource{Endpoints: map[string][]string{"KAFKA_BOOTSTRAP_SERVERS": c.ListenAddrs()}}})
	if err != nil {
		t.Fatal(err)
	}
	// The function saw the poison record twice (its retry), and a and b once each, in order.
	waitFor(t, func() bool { return slices.Equal(f.values(t)[0], []string{"a", "poison", "poison", "b"}) }, "a and b around the poison record")
	snd.mu.Lock()
	defer snd.mu.Unlock()
	if len(snd.sent) != 1 {
		t.Fatalf("%d failure records, want 1", len(snd.sent))
	}
	var rec struct {
		RequestContext struct{ Condition string } `json:"requestContext"`
		Info           struct {
			Topic       string `json:"topic"`
			StartOffset int64  `json:"startOffset"`
			BatchSize   int    `json:"batchSize"`
		} `json:"KafkaBatchInfo"`
		Payload kafkaEvent `json:"payload"`
	}
	if err := json.Unmarshal(snd.sent[0], &rec); err != nil {
		t.Fatal(err)
	}
	if rec.RequestContext.Condition != "RetryAttemptsExhausted" || rec.Info.Topic != "t" || rec.Info.StartOffset != 1 || rec.Info.BatchSize != 1 ||
		len(rec.Payload.Records["t-0"]) != 1 {
		t.Fatalf("failure record %s", snd.sent[0])
	}
}

func ptr[T any](v T) *T { return &v }
