package async_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ember-serverless/ember/internal/async"
	"github.com/ember-serverless/ember/internal/invoke"
	"github.com/ember-serverless/ember/internal/lambdaerr"
	"github.com/ember-serverless/ember/internal/state"
	"github.com/ember-serverless/ember/internal/state/statetest"
)

var arns = async.ARNs{Region: "us-east-1", AccountID: "000000000000"}

// behaviour is how a fake function answers an invocation.
type behaviour func(req *invoke.Request) (*invoke.Response, error)

func ok(req *invoke.Request) (*invoke.Response, error) {
	return &invoke.Response{StatusCode: 200, Payload: []byte(`"done"`), ExecutedVersion: "$LATEST", RequestID: req.RequestID}, nil
}

func fails(req *invoke.Request) (*invoke.Response, error) {
	return &invoke.Response{StatusCode: 200, FunctionError: "Unhandled", ExecutedVersion: "$LATEST", RequestID: req.RequestID,
		Payload: []byte(`{"errorMessage":"boom","errorType":"Error"}`)}, nil
}

// fakeLambda is the synchronous path and the registry: functions that exist, how they answer,
// and every invocation they were handed.
type fakeLambda struct {
	mu    sync.Mutex
	fns   map[string]behaviour
	dlq   map[string]string
	calls []*invoke.Request
	ran   chan *invoke.Request
}

func newFake() *fakeLambda {
	return &fakeLambda{fns: map[string]behaviour{}, dlq: map[string]string{}, ran: make(chan *invoke.Request, 100000)}
}

func (f *fakeLambda) set(name string, b behaviour) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fns[name] = b
}

func (f *fakeLambda) Function(name, qualifier string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.fns[name]; !ok || (qualifier != "" && qualifier != "$LATEST") {
		return "", lambdaerr.NotFound("Function", arns.FunctionARN(name, qualifier))
	}
	return name, nil
}

func (f *fakeLambda) DeadLetterTarget(name string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.dlq[name]
}

func (f *fakeLambda) Invoke(ctx context.Context, req *invoke.Request) (*invoke.Response, error) {
	f.mu.Lock()
	b, ok := f.fns[req.Function]
	f.calls = append(f.calls, req)
	f.mu.Unlock()
	if !ok {
		return nil, lambdaerr.NotFound("Function", req.Function)
	}
	resp, err := b(req)
	f.ran <- req
	return resp, err
}

// callsOf counts the invocations of a function so far.
func (f *fakeLambda) callsOf(name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if c.Function == name {
			n++
		}
	}
	return n
}

// fastConfig is a service configuration whose delays suit a test.
func fastConfig(st *state.State, f *fakeLambda) async.Config {
	return async.Config{JetStream: st.JetStream(), Invoker: f, Functions: f, ARNs: arns,
		RetryBaseDelay: 50 * time.Millisecond, ThrottleBaseDelay: 20 * time.Millisecond, AckWait: 2 * time.Second,
		PollWait: 200 * time.Millisecond}
}

func start(t *testing.T, cfg async.Config) *async.Service {
	t.Helper()
	s, err := async.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func enqueue(t *testing.T, s *async.Service, fn, payload string) string {
	t.Helper()
	resp, err := s.Enqueue(context.Background(), &invoke.Request{Function: fn, Type: invoke.Event, Payload: []byte(payload)})
	if err != nil {
		t.Fatalf("enqueue %s: %v", fn, err)
	}
	if resp.StatusCode != 202 || resp.RequestID == "" {
		t.Fatalf("enqueue answered %+v, want 202 with a request ID", resp)
	}
	return resp.RequestID
}

// subjectReader captures a subject in a stream of its own and reads what arrives there.
func subjectReader(t *testing.T, js jetstream.JetStream, name, subject string) func() []jetstream.Msg {
	t.Helper()
	ctx := context.Background()
	st, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{subject}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var got []jetstream.Msg
	return func() []jetstream.Msg {
		b, err := c.FetchNoWait(100)
		if err == nil {
			for m := range b.Messages() {
				got = append(got, m)
			}
		}
		return got
	}
}

func intp(n int) *int { return &n }

func decodeRecord(t *testing.T, b []byte) async.Record {
	t.Helper()
	var r async.Record
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("record %s: %v", b, err)
	}
	return r
}

func newState(t *testing.T) *state.State { return statetest.New(t) }
