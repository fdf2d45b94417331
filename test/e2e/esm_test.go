package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ember-serverless/ember/internal/esm/rabbitmq/rabbitmqtest"
)

func streamARN(stream string) string {
	return "arn:aws:nats:" + region + ":" + accountID + ":stream:" + stream
}

// publish stores datas on subject through the server's embedded NATS.
func (r *natsReader) publish(subject string, datas ...string) {
	r.t.Helper()
	js, nc := r.connect()
	defer nc.Close()
	for _, d := range datas {
		if _, err := js.Publish(context.Background(), subject, []byte(d)); err != nil {
			r.t.Fatal(err)
		}
	}
}

// consumer is the state of a mapping's durable consumer on stream.
func (r *natsReader) consumer(stream, uuid string) (*jetstream.ConsumerInfo, error) {
	js, nc := r.connect()
	defer nc.Close()
	c, err := js.Consumer(context.Background(), stream, "esm-"+uuid)
	if err != nil {
		return nil, err
	}
	return c.Info(context.Background())
}

// failureBatch is the part of a mapping's failure record the tests read.
type failureBatch struct {
	RequestContext struct {
		Condition   string `json:"condition"`
		FunctionArn string `json:"functionArn"`
	} `json:"requestContext"`
	ResponseContext struct {
		FunctionError string `json:"functionError"`
	} `json:"responseContext"`
	Info struct {
		Start     string `json:"startSequenceNumber"`
		End       string `json:"endSequenceNumber"`
		BatchSize int    `json:"batchSize"`
	} `json:"JetStreamBatchInfo"`
}

func (r *natsReader) failures(subject string) []failureBatch {
	r.t.Helper()
	var out []failureBatch
	for _, m := range r.all(subject) {
		var f failureBatch
		if err := json.Unmarshal(m.Data, &f); err != nil {
			r.t.Fatalf("failure record %s: %v", m.Data, err)
		}
		out = append(out, f)
	}
	return out
}

type mappingOut struct {
	UUID, State, FunctionArn, EventSourceArn, LastProcessingResult, StartingPosition string
	BatchSize                                                                        int
}

func TestTheAWSCLIMapsAJetStreamStreamAndAPoisonRecordEndsInTheFailureDestination(t *testing.T) {
	needAWSCLI(t)
	dir, natsAddr := t.TempDir(), loopbackAddr(t)
	s := newServer(t, dir, "--nats-listen", natsAddr)
	c := s.lambdaClient()
	fn := deploy(t, c, functionSpec{fn: "batch"})
	reader := newNATSReader(t, natsAddr, "ORDERS", "orders.>")
	dlq := newNATSReader(t, natsAddr, "FAILED", "failed.>")
	reader.publish("orders.new", "a", "b", "poison", "c", "d")

	var m mappingOut
	decodeCLI(t, s.aws(t, "lambda", "create-event-source-mapping", "--function-name", fn, "--event-source-arn", streamARN("ORDERS"),
		"--starting-position", "TRIM_HORIZON", "--batch-size", "5", "--maximum-batching-window-in-seconds", "1",
		"--maximum-retry-attempts", "1", "--bisect-batch-on-function-error",
		"--destination-config", `{"OnFailure":{"Destination":"`+subjectARN("failed.orders")+`"}}`), &m)
	if m.State != "Creating" || m.UUID == "" || m.BatchSize != 5 || m.EventSourceArn != streamARN("ORDERS") {
		t.Fatalf("create-event-source-mapping answered %+v", m)
	}
	waitUntil(t, stateTimeout, func() (bool, string) {
		decodeCLI(t, s.aws(t, "lambda", "get-event-source-mapping", "--uuid", m.UUID), &m)
		return m.State == "Enabled", "state " + m.State
	})
	waitUntil(t, 2*stateTimeout, func() (bool, string) {
		n := len(dlq.all("failed.orders"))
		return n >= 1, fmt.Sprintf("%d failure records", n)
	})
	reader.publish("orders.new", "after")
	waitUntil(t, 2*stateTimeout, func() (bool, string) {
		info, err := reader.consumer("ORDERS", m.UUID)
		if err != nil {
			return false, err.Error()
		}
		return info.NumPending == 0 && info.NumAckPending == 0 && info.AckFloor.Stream == 6,
			fmt.Sprintf("consumer pending %d, unacknowledged %d, acknowledged up to %d", info.NumPending, info.NumAckPending, info.AckFloor.Stream)
	})
	f := dlq.failures("failed.orders")
	if len(f) != 1 || f[0].Info.Start != "3" || f[0].Info.End != "3" || f[0].Info.BatchSize != 1 ||
		f[0].RequestContext.Condition != "RetryAttemptsExhausted" || f[0].ResponseContext.FunctionError != "Unhandled" {
		t.Fatalf("failure records %+v, want one for the poison record alone (sequence 3)", f)
	}

	var list struct{ EventSourceMappings []mappingOut }
	decodeCLI(t, s.aws(t, "lambda", "list-event-source-mappings", "--function-name", fn), &list)
	if len(list.EventSourceMappings) != 1 || list.EventSourceMappings[0].UUID != m.UUID || list.EventSourceMappings[0].LastProcessingResult == "" {
		t.Fatalf("list-event-source-mappings = %+v", list)
	}
	decodeCLI(t, s.aws(t, "lambda", "update-event-source-mapping", "--uuid", m.UUID, "--no-enabled"), &m)
	if m.State != "Disabling" {
		t.Fatalf("update-event-source-mapping --no-enabled answered state %s", m.State)
	}
	r := s.aws(t, "lambda", "create-event-source-mapping", "--function-name", fn, "--event-source-arn", streamARN("NOPE"),
		"--starting-position", "LATEST")
	if r.code == 0 || !containsAll(r.stderr, "InvalidParameterValueException", "Stream not found") {
		t.Fatalf("a mapping of a missing stream: exit %d, %s", r.code, r.stderr)
	}
	decodeCLI(t, s.aws(t, "lambda", "delete-event-source-mapping", "--uuid", m.UUID), &m)
	if m.State != "Deleting" {
		t.Fatalf("delete-event-source-mapping answered state %s", m.State)
	}
	waitUntil(t, stateTimeout, func() (bool, string) {
		r := s.aws(t, "lambda", "get-event-source-mapping", "--uuid", m.UUID)
		return r.code != 0 && containsAll(r.stderr, "ResourceNotFoundException"), "the mapping is still there"
	})
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// TestEveryStreamRecordIsProcessedAfterKillDashNine kills the server while a mapping is
// mid-batch, twice, and checks after the restarts that every record of the stream went through
// an invocation whose outcome was stored (here a failure record per batch, which names the
// batch's sequence range), none skipped.
func TestEveryStreamRecordIsProcessedAfterKillDashNine(t *testing.T) {
	dir, natsAddr := t.TempDir(), loopbackAddr(t)
	flags := []string{"--nats-listen", natsAddr, "--async-ack-wait", "2s"}
	s := newServer(t, dir, flags...)
	c := s.lambdaClient()
	fn := deploy(t, c, functionSpec{fn: "error"})
	reader := newNATSReader(t, natsAddr, "EVENTS", "events.>")
	dlq := newNATSReader(t, natsAddr, "DONE", "done.>")
	const total = 400
	datas := make([]string, total)
	for i := range datas {
		datas[i] = strconv.Itoa(i)
	}
	reader.publish("events.x", datas...)
	var m mappingOut
	decodeCLI(t, s.aws(t, "lambda", "create-event-source-mapping", "--function-name", fn, "--event-source-arn", streamARN("EVENTS"),
		"--starting-position", "TRIM_HORIZON", "--batch-size", "10", "--maximum-retry-attempts", "0",
		"--destination-config", `{"OnFailure":{"Destination":"`+subjectARN("done.events")+`"}}`), &m)
	restart := func() {
		t.Helper()
		s2, err := startServer(dir, true, flags...)
		if err != nil {
			t.Fatal(err)
		}
		s2.logOnFailure(t)
		t.Cleanup(func() { s2.stop() })
		s = s2
	}
	for _, after := range []int{3, 12} {
		waitUntil(t, 2*stateTimeout, func() (bool, string) {
			n := len(dlq.all("done.events"))
			return n >= after, fmt.Sprintf("%d batches done", n)
		})
		s.kill()
		restart()
	}
	covered := map[int]int{}
	waitUntil(t, 4*stateTimeout, func() (bool, string) {
		clear(covered)
		for _, f := range dlq.failures("done.events") {
			start, _ := strconv.Atoi(f.Info.Start)
			end, _ := strconv.Atoi(f.Info.End)
			for seq := start; seq <= end; seq++ {
				covered[seq]++
			}
		}
		var missing []int
		for seq := 1; seq <= total; seq++ {
			if covered[seq] == 0 {
				missing = append(missing, seq)
			}
		}
		return len(missing) == 0, fmt.Sprintf("%d of %d records never processed: %v", len(missing), total, missing[:min(len(missing), 20)])
	})
	repeats := 0
	for _, n := range covered {
		repeats += n - 1
	}
	t.Logf("all %d records processed across two kills; %d were processed more than once", total, repeats)
	if err := s.stop(); err != nil {
		t.Errorf("SIGTERM after the kills: %v", err)
	}
}

func TestTheAWSCLIMapsAKafkaTopic(t *testing.T) {
	needAWSCLI(t)
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "clicks"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	producer, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	for _, v := range []string{"a", "b", "poison", "c"} {
		if err := producer.ProduceSync(context.Background(), &kgo.Record{Topic: "clicks", Key: []byte("one-key"), Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	dir, natsAddr := t.TempDir(), loopbackAddr(t)
	s := newServer(t, dir, "--nats-listen", natsAddr)
	c := s.lambdaClient()
	fn := deploy(t, c, functionSpec{fn: "batch"})
	dlq := newNATSReader(t, natsAddr, "KFAILED", "kfailed.>")
	var m mappingOut
	decodeCLI(t, s.aws(t, "lambda", "create-event-source-mapping", "--function-name", fn, "--topics", "clicks",
		"--starting-position", "TRIM_HORIZON", "--batch-size", "1",
		"--self-managed-event-source", `{"Endpoints":{"KAFKA_BOOTSTRAP_SERVERS":["`+cluster.ListenAddrs()[0]+`"]}}`,
		"--self-managed-kafka-event-source-config", `{"ConsumerGroupId":"e2e-clicks"}`,
		"--maximum-retry-attempts", "0",
		"--destination-config", `{"OnFailure":{"Destination":"`+subjectARN("kfailed.clicks")+`"}}`), &m)
	if m.State != "Creating" || m.UUID == "" {
		t.Fatalf("create-event-source-mapping answered %+v", m)
	}
	waitUntil(t, 2*stateTimeout, func() (bool, string) {
		n := len(dlq.all("kfailed.clicks"))
		return n == 1, fmt.Sprintf("%d failure records", n)
	})
	var rec struct {
		Info struct {
			Topic       string `json:"topic"`
			StartOffset int64  `json:"startOffset"`
		} `json:"KafkaBatchInfo"`
	}
	if err := json.Unmarshal(dlq.all("kfailed.clicks")[0].Data, &rec); err != nil || rec.Info.Topic != "clicks" || rec.Info.StartOffset != 2 {
		t.Fatalf("failure record %+v, %v; want the poison record at offset 2 of clicks", rec, err)
	}
	// The group's offsets reach the end of the topic: every record was processed or sent on.
	adm := kadmClient(t, cluster.ListenAddrs())
	waitUntil(t, 2*stateTimeout, func() (bool, string) {
		return adm("e2e-clicks") == 4, fmt.Sprintf("committed %d of 4", adm("e2e-clicks"))
	})
	var got mappingOut
	decodeCLI(t, s.aws(t, "lambda", "get-event-source-mapping", "--uuid", m.UUID), &got)
	if got.State != "Enabled" || got.LastProcessingResult == "" {
		t.Fatalf("get-event-source-mapping = %+v", got)
	}
}

// kadmClient returns a function that sums a consumer group's committed offsets.
func kadmClient(t *testing.T, brokers []string) func(group string) int64 {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return func(group string) int64 {
		req := kmsg.NewPtrOffsetFetchRequest()
		req.Group = group
		resp, err := req.RequestWith(context.Background(), cl)
		if err != nil {
			return -1
		}
		var n int64
		for _, tp := range resp.Topics {
			for _, p := range tp.Partitions {
				if p.Offset > 0 {
					n += p.Offset
				}
			}
		}
		return n
	}
}

func TestTheAWSCLIMapsARabbitMQQueue(t *testing.T) {
	needAWSCLI(t)
	broker := rabbitmqtest.Start(t)
	conn, err := amqp.Dial("amqp://guest:guest@" + broker.Addr() + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDeclare("jobs", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{"one", "two", "three"} {
		if err := ch.PublishWithContext(context.Background(), "", "jobs", false, false, amqp.Publishing{Body: []byte(b)}); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "secrets"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "secrets", "mq"), []byte(`{"username":"guest","password":"guest"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	s := newServer(t, dir)
	c := s.lambdaClient()
	fn := deploy(t, c, functionSpec{fn: "batch"})
	brokerARN := "arn:aws:mq:" + region + ":" + accountID + ":broker:" + broker.Addr()
	secret := "arn:aws:secretsmanager:" + region + ":" + accountID + ":secret:"
	r := s.aws(t, "lambda", "create-event-source-mapping", "--function-name", fn, "--event-source-arn", brokerARN, "--queues", "jobs",
		"--source-access-configurations", "Type=BASIC_AUTH,URI="+secret+"nope")
	if r.code == 0 || !containsAll(r.stderr, "InvalidParameterValueException", "could not be read") {
		t.Fatalf("a mapping with a missing secret: exit %d, %s", r.code, r.stderr)
	}
	var m mappingOut
	decodeCLI(t, s.aws(t, "lambda", "create-event-source-mapping", "--function-name", fn, "--event-source-arn", brokerARN, "--queues", "jobs",
		"--batch-size", "2", "--source-access-configurations", "Type=BASIC_AUTH,URI="+secret+"mq", "Type=VIRTUAL_HOST,URI=/"), &m)
	if m.State != "Creating" || m.UUID == "" {
		t.Fatalf("create-event-source-mapping answered %+v", m)
	}
	// Every message is acknowledged once the function succeeded: the queue empties.
	waitUntil(t, 2*stateTimeout, func() (bool, string) {
		q, err := ch.QueueDeclarePassive("jobs", true, false, false, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		decodeCLI(t, s.aws(t, "lambda", "get-event-source-mapping", "--uuid", m.UUID), &m)
		return q.Messages == 0 && q.Consumers == 1 && m.LastProcessingResult == "OK",
			fmt.Sprintf("%d messages ready, %d consumers, last result %q", q.Messages, q.Consumers, m.LastProcessingResult)
	})
	decodeCLI(t, s.aws(t, "lambda", "delete-event-source-mapping", "--uuid", m.UUID), &m)
	waitUntil(t, stateTimeout, func() (bool, string) {
		q, err := ch.QueueDeclarePassive("jobs", true, false, false, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		return q.Consumers == 0, fmt.Sprintf("%d consumers after the delete", q.Consumers)
	})
}
