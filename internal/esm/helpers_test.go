package esm_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ember-serverless/ember/internal/async"
	"github.com/ember-serverless/ember/internal/esm"
	"github.com/ember-serverless/ember/internal/invoke"
	"github.com/ember-serverless/ember/internal/lambdaerr"
	"github.com/ember-serverless/ember/internal/state"
	"github.com/ember-serverless/ember/internal/state/statetest"
)

var arns = async.ARNs{Region: "us-east-1", AccountID: "000000000000"}

// event is the JetStream event as a function sees it.
type event struct {
	Records []struct {
		JetStream struct {
			SchemaVersion  string              `json:"jetstreamSchemaVersion"`
			Stream         string              `json:"stream"`
			Subject        string              `json:"subject"`
			PartitionKey   string              `json:"partitionKey"`
			SequenceNumber string              `json:"sequenceNumber"`
			Data           string              `json:"data"`
			Arrival        float64             `json:"approximateArrivalTimestamp"`
			Headers        map[string][]string `json:"headers"`
		} `json:"jetstream"`
		EventSource    string `json:"eventSource"`
		EventVersion   string `json:"eventVersion"`
		EventID        string `json:"eventID"`
		EventName      string `json:"eventName"`
		AWSRegion      string `json:"awsRegion"`
		EventSourceARN string `json:"eventSourceARN"`
	} `json:"Records"`
}

func (e event) datas(t testing.TB) []string {
	var out []string
	for _, r := range e.Records {
		b, err := base64.StdEncoding.DecodeString(r.JetStream.Data)
		if err != nil {
			t.Fatalf("data %q is not base64: %v", r.JetStream.Data, err)
		}
		out = append(out, string(b))
	}
	return out
}

// fakeFunctions is the registry and the synchronous path: how the function answers each batch,
// and every batch it was handed.
type fakeFunctions struct {
	mu      sync.Mutex
	exists  map[string]bool
	answer  func(ev event) (*invoke.Response, error)
	batches []event
}

func newFake() *fakeFunctions {
	return &fakeFunctions{exists: map[string]bool{"fn": true, "other": true}, answer: func(event) (*invoke.Response, error) {
		return &invoke.Response{StatusCode: 200, Payload: []byte(`null`), ExecutedVersion: "$LATEST"}, nil
	}}
}

func (f *fakeFunctions) Exists(name, qualifier string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.exists[name] || (qualifier != "" && qualifier != "$LATEST" && qualifier != "live") {
		return lambdaerr.NotFound("Function", arns.FunctionARN(name, qualifier))
	}
	return nil
}

func (f *fakeFunctions) set(a func(ev event) (*invoke.Response, error)) {
	f.mu.Lock()
	f.answer = a
	f.mu.Unlock()
}

func (f *fakeFunctions) Invoke(ctx context.Context, req *invoke.Request) (*invoke.Response, error) {
	var ev event
	if err := json.Unmarshal(req.Payload, &ev); err != nil {
		panic(err)
	}
	f.mu.Lock()
	a := f.answer
	f.mu.Unlock()
	resp, err := a(ev)
	if err == nil {
		f.mu.Lock()
		f.batches = append(f.batches, ev)
		f.mu.Unlock()
		resp.RequestID = req.RequestID
	}
	return resp, err
}

// seen is every data the function was handed, in order, with repeats.
func (f *fakeFunctions) seen(t testing.TB) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, b := range f.batches {
		out = append(out, b.datas(t)...)
	}
	return out
}

func (f *fakeFunctions) batchCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.batches)
}

func failWith(ev event) (*invoke.Response, error) {
	return &invoke.Response{StatusCode: 200, FunctionError: "Unhandled", ExecutedVersion: "$LATEST",
		Payload: []byte(`{"errorMessage":"boom","errorType":"Error"}`)}, nil
}

// fakeSender keeps what was sent to each destination.
type fakeSender struct {
	mu   sync.Mutex
	sent map[string][][]byte
}

func (s *fakeSender) Send(ctx context.Context, target, requestID string, body []byte, h nats.Header) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sent == nil {
		s.sent = map[string][][]byte{}
	}
	s.sent[target] = append(s.sent[target], body)
	return nil
}

func (s *fakeSender) to(target string) [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]byte(nil), s.sent[target]...)
}

type env struct {
	t      *testing.T
	st     *state.State
	js     jetstream.JetStream
	fn     *fakeFunctions
	sender *fakeSender
	svc    *esm.Service
}

func newEnv(t *testing.T) *env {
	t.Helper()
	st := statetest.New(t)
	e := &env{t: t, st: st, js: st.JetStream(), fn: newFake(), sender: &fakeSender{}}
	e.svc = e.open()
	return e
}

func (e *env) open() *esm.Service {
	e.t.Helper()
	svc, err := esm.New(context.Background(), esm.Config{JetStream: e.js, Invoker: e.fn, Functions: e.fn, Sender: e.sender,
		ARNs: arns, AckWait: 2 * time.Second, Logger: testLogger(), RetryBaseDelay: 10 * time.Millisecond, ThrottleBaseDelay: 10 * time.Millisecond})
	if err != nil {
		e.t.Fatal(err)
	}
	svc.Start()
	e.t.Cleanup(svc.Close)
	return svc
}

// stream creates a stream capturing subjects "name.>".
func (e *env) stream(name string) string {
	e.t.Helper()
	if _, err := e.js.CreateStream(context.Background(), jetstream.StreamConfig{Name: name, Subjects: []string{name + ".>"}}); err != nil {
		e.t.Fatal(err)
	}
	return esm.StreamARN(arns.Region, arns.AccountID, name, "")
}

func (e *env) publish(subject string, datas ...string) {
	e.t.Helper()
	for _, d := range datas {
		if _, err := e.js.Publish(context.Background(), subject, []byte(d)); err != nil {
			e.t.Fatal(err)
		}
	}
}

func (e *env) create(in esm.Input) *esm.Mapping {
	e.t.Helper()
	if in.FunctionName == nil {
		in.FunctionName = ptr("fn")
	}
	if in.StartingPosition == nil && in.SelfManagedEventSource == nil && in.Queues == nil {
		in.StartingPosition = ptr(esm.TrimHorizon)
	}
	m, err := e.svc.Create(context.Background(), &in)
	if err != nil {
		e.t.Fatalf("create: %v", err)
	}
	return m
}

// waitState polls until the mapping is in state want.
func (e *env) waitState(id, want string) {
	e.t.Helper()
	waitFor(e.t, func() bool {
		m, err := e.svc.Get(id)
		return err == nil && m.State == want
	}, "mapping "+id+" to be "+want)
}

func waitFor(t testing.TB, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func testLogger() *slog.Logger {
	if os.Getenv("ESM_DEBUG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func ptr[T any](v T) *T { return &v }

func numbered(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = prefix + strconv.Itoa(i)
	}
	return out
}
