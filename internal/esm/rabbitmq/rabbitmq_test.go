package rabbitmq_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/ember-serverless/ember/internal/async"
	"github.com/ember-serverless/ember/internal/esm"
	"github.com/ember-serverless/ember/internal/esm/rabbitmq"
	"github.com/ember-serverless/ember/internal/esm/rabbitmq/rabbitmqtest"
	"github.com/ember-serverless/ember/internal/invoke"
	"github.com/ember-serverless/ember/internal/lambdaerr"
	"github.com/ember-serverless/ember/internal/state/statetest"
)

var arns = async.ARNs{Region: "us-east-1", AccountID: "000000000000"}

type rmqEvent struct {
	EventSource    string `json:"eventSource"`
	EventSourceArn string `json:"eventSourceArn"`
	Messages       map[string][]struct {
		BasicProperties map[string]any `json:"basicProperties"`
		Redelivered     bool           `json:"redelivered"`
		Data            string         `json:"data"`
	} `json:"rmqMessagesByQueue"`
}

type fn struct {
	mu     sync.Mutex
	events []rmqEvent
	answer func() (*invoke.Response, error)
}

func (f *fn) Exists(string, string) error { return nil }

func (f *fn) Invoke(_ context.Context, req *invoke.Request) (*invoke.Response, error) {
	var ev rmqEvent
	if err := json.Unmarshal(req.Payload, &ev); err != nil {
		panic(err)
	}
	f.mu.Lock()
	a := f.answer
	f.mu.Unlock()
	resp, err := a()
	if err == nil {
		f.mu.Lock()
		f.events = append(f.events, ev)
		f.mu.Unlock()
	}
	return resp, err
}

func (f *fn) datas() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, ev := range f.events {
		for _, ms := range ev.Messages {
			for _, m := range ms {
				b, _ := base64.StdEncoding.DecodeString(m.Data)
				out = append(out, string(b))
			}
		}
	}
	sort.Strings(out)
	return out
}

func ok() (*invoke.Response, error) {
	return &invoke.Response{StatusCode: 200, Payload: []byte("null")}, nil
}

type noSender struct{}

func (noSender) Send(context.Context, string, string, []byte, nats.Header) error { return nil }

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

func ptr[T any](v T) *T { return &v }

func TestRabbitMQMessagesArriveAsLambdasAmazonMQEventAndAreAckedOnlyAfterSuccess(t *testing.T) {
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
	if _, err := ch.QueueDeclare("orders", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	publish := func(body string) {
		t.Helper()
		if err := ch.PublishWithContext(context.Background(), "", "orders", false, false, amqp.Publishing{ContentType: "text/plain",
			Headers: amqp.Table{"h": "ab", "n": int32(7)}, DeliveryMode: 2, MessageId: "id-" + body, Body: []byte(body)}); err != nil {
			t.Fatal(err)
		}
	}
	secrets := t.TempDir()
	if err := os.WriteFile(filepath.Join(secrets, "mq"), []byte(`{"username":"guest","password":"guest"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	st := statetest.New(t)
	f := &fn{answer: ok}
	start := func() *esm.Service {
		svc, err := esm.New(context.Background(), esm.Config{JetStream: st.JetStream(), Invoker: f, Functions: f, Sender: noSender{}, ARNs: arns,
			SecretsDir: secrets, Sources: map[esm.Kind]esm.SourceFactory{esm.KindRabbitMQ: rabbitmq.Open},
			RetryBaseDelay: 10 * time.Millisecond, ThrottleBaseDelay: 10 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		svc.Start()
		return svc
	}
	svc := start()
	defer func() { svc.Close() }()
	brokerARN := "arn:aws:mq:us-east-1:000000000000:broker:" + broker.Addr()

	t.Run("a mapping without credentials is refused", func(t *testing.T) {
		_, err := svc.Create(context.Background(), &esm.Input{FunctionName: ptr("fn"), EventSourceArn: &brokerARN, Queues: []string{"orders"}})
		if lambdaerr.As(err).Type != lambdaerr.InvalidParameterValue || !strings.Contains(err.Error(), "BASIC_AUTH") {
			t.Fatalf("Create = %v, want InvalidParameterValueException about BASIC_AUTH", err)
		}
		_, err = svc.Create(context.Background(), &esm.Input{FunctionName: ptr("fn"), EventSourceArn: &brokerARN, Queues: []string{"orders"},
			SourceAccessConfigurations: []esm.SourceAccessConfiguration{{Type: "BASIC_AUTH", URI: esm.SecretARN("us-east-1", "000000000000", "missing")}}})
		if lambdaerr.As(err).Type != lambdaerr.InvalidParameterValue || !strings.Contains(err.Error(), "could not be read") {
			t.Fatalf("Create = %v, want InvalidParameterValueException about the missing secret", err)
		}
	})

	for _, b := range []string{"a", "b", "c"} {
		publish(b)
	}
	_, err = svc.Create(context.Background(), &esm.Input{FunctionName: ptr("fn"), EventSourceArn: &brokerARN, Queues: []string{"orders"},
		BatchSize: ptr(10), MaximumBatchingWindowInSeconds: ptr(1),
		SourceAccessConfigurations: []esm.SourceAccessConfiguration{{Type: "BASIC_AUTH", URI: esm.SecretARN("us-east-1", "000000000000", "mq")},
			{Type: "VIRTUAL_HOST", URI: "/"}}})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return len(f.datas()) == 3 }, "three messages")
	f.mu.Lock()
	ev := f.events[0]
	f.mu.Unlock()
	msgs := ev.Messages["orders::/"]
	if ev.EventSource != "aws:rmq" || ev.EventSourceArn != brokerARN || len(msgs) == 0 {
		t.Fatalf("event %+v", ev)
	}
	p := msgs[0].BasicProperties
	h, _ := p["headers"].(map[string]any)
	hb, _ := h["h"].(map[string]any)
	if p["contentType"] != "text/plain" || p["deliveryMode"] != float64(2) || p["bodySize"] != float64(1) || p["correlationId"] != nil ||
		!strings.HasPrefix(p["messageId"].(string), "id-") || h["n"] != float64(7) || len(hb["bytes"].([]any)) != 2 {
		t.Errorf("basicProperties %v", p)
	}

	// A throttled message is not acknowledged: stopped, it goes back to the queue, and the
	// next start runs it.
	f.mu.Lock()
	f.answer = func() (*invoke.Response, error) {
		return nil, lambdaerr.New(lambdaerr.TooManyRequests, "Rate Exceeded.")
	}
	f.mu.Unlock()
	publish("late")
	waitFor(t, func() bool { return svc.Stats()[0].Throttled > 0 }, "the late message to be throttled")
	svc.Close()
	f.mu.Lock()
	f.answer = ok
	f.mu.Unlock()
	svc = start()
	waitFor(t, func() bool { return slices.Contains(f.datas(), "late") }, "the late message after the restart")
	time.Sleep(300 * time.Millisecond) // the acknowledged ones must not come again
	if got := f.datas(); !slices.Equal(got, []string{"a", "b", "c", "late"}) {
		t.Fatalf("the function had %v", got)
	}
}
