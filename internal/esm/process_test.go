package esm_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ember-serverless/ember/internal/async"
	"github.com/ember-serverless/ember/internal/esm"
	"github.com/ember-serverless/ember/internal/invoke"
	"github.com/ember-serverless/ember/internal/lambdaerr"
)

func TestRecordsArriveInBatchesShapedLikeKinesis(t *testing.T) {
	e := newEnv(t)
	arn := e.stream("orders")
	e.publish("orders.eu", numbered("r", 25)...)
	m := e.create(esm.Input{EventSourceArn: &arn, BatchSize: ptr(10)})
	waitFor(t, func() bool { return len(e.fn.seen(t)) >= 25 }, "25 records")
	if got := e.fn.seen(t); !slices.Equal(got, numbered("r", 25)) {
		t.Fatalf("the function saw %v, want r0..r24 in order", got)
	}
	e.fn.mu.Lock()
	first := e.fn.batches[0]
	for _, b := range e.fn.batches {
		if len(b.Records) > 10 {
			t.Errorf("a batch of %d records, over BatchSize 10", len(b.Records))
		}
	}
	e.fn.mu.Unlock()
	r := first.Records[0]
	if r.EventSource != "ember:jetstream" || r.EventName != "ember:jetstream:record" || r.EventVersion != "1.0" ||
		r.EventSourceARN != arn || r.AWSRegion != "us-east-1" || r.EventID != "orders:1" {
		t.Errorf("record envelope %+v", r)
	}
	if j := r.JetStream; j.SchemaVersion != "1.0" || j.Stream != "orders" || j.Subject != "orders.eu" || j.PartitionKey != "orders.eu" ||
		j.SequenceNumber != "1" || j.Arrival < float64(time.Now().Add(-time.Minute).Unix()) {
		t.Errorf("jetstream record %+v", j)
	}
	waitFor(t, func() bool { m, _ := e.svc.Get(m.UUID); return m.LastProcessingResult == "OK" }, "LastProcessingResult OK")
}

func TestStartingPositions(t *testing.T) {
	cases := []struct {
		name     string
		position string
		want     []string
	}{
		{"TRIM_HORIZON reads the records already there", esm.TrimHorizon, []string{"old", "new"}},
		{"LATEST reads only records published after", esm.Latest, []string{"new"}},
		{"AT_TIMESTAMP reads from the timestamp", esm.AtTimestamp, []string{"new"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			arn := e.stream("s")
			e.publish("s.x", "old")
			time.Sleep(20 * time.Millisecond) // the timestamp must fall between the two records
			in := esm.Input{EventSourceArn: &arn, StartingPosition: ptr(c.position)}
			if c.position == esm.AtTimestamp {
				in.StartingPositionTimestamp = &esm.Time{Time: time.Now()}
			}
			m := e.create(in)
			e.waitState(m.UUID, esm.StateEnabled)
			waitFor(t, func() bool { return e.svc.Stats()[0].Pending >= 0 }, "the consumer")
			e.publish("s.x", "new")
			waitFor(t, func() bool { return len(e.fn.seen(t)) >= len(c.want) }, "records")
			time.Sleep(100 * time.Millisecond) // nothing more may come
			if got := e.fn.seen(t); !slices.Equal(got, c.want) {
				t.Fatalf("saw %v, want %v", got, c.want)
			}
		})
	}
}

func TestFilteredRecordsAreSkippedAndAcknowledged(t *testing.T) {
	e := newEnv(t)
	arn := e.stream("t")
	m := e.create(esm.Input{EventSourceArn: &arn, BatchSize: ptr(100), FilterCriteria: &esm.FilterCriteria{Filters: []esm.Filter{
		{Pattern: `{"data":{"temp":[{"numeric":[">",30]}]}}`},
		{Pattern: `{"subject":[{"suffix":".alert"}]}`},
	}}})
	e.publish("t.reading", `{"temp":20}`, `{"temp":35}`, `not json`, `{"temp":31}`)
	e.publish("t.alert", `plain text alert`)
	waitFor(t, func() bool { return e.svc.Stats()[0].Filtered == 2 && len(e.fn.seen(t)) == 3 }, "3 kept and 2 filtered")
	if got := e.fn.seen(t); !slices.Equal(got, []string{`{"temp":35}`, `{"temp":31}`, `plain text alert`}) {
		t.Fatalf("the function saw %v", got)
	}
	waitFor(t, func() bool { return e.svc.Stats()[0].Pending == 0 }, "every record, filtered ones too, acknowledged")
	_ = m
}

func failureRecord(t *testing.T, b []byte) (async.Record, map[string]any) {
	t.Helper()
	var r async.Record
	var raw map[string]any
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	_ = json.Unmarshal(b, &raw)
	info, _ := raw["JetStreamBatchInfo"].(map[string]any)
	return r, info
}

func TestAPoisonRecordEndsInTheFailureDestination(t *testing.T) {
	const dest = "arn:aws:nats:us-east-1:000000000000:subject:failures"
	cases := []struct {
		name       string
		in         esm.Input
		wantFailed []string // the records of the failure record's batch
		wantSeq    string
	}{
		{"after its retries, the whole batch", esm.Input{MaximumRetryAttempts: ptr(2)}, []string{"a", "b", "poison", "c"}, "1"},
		{"bisecting isolates the poison record", esm.Input{MaximumRetryAttempts: ptr(1), BisectBatchOnFunctionError: ptr(true)}, []string{"poison"}, "3"},
		{"reported item failures retry only the failed item and after", esm.Input{MaximumRetryAttempts: ptr(1),
			FunctionResponseTypes: []string{esm.ReportBatchItemFailures}}, []string{"poison", "c"}, "3"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			arn := e.stream("p")
			var calls atomic.Int32
			e.fn.set(func(ev event) (*invoke.Response, error) {
				calls.Add(1)
				for _, r := range ev.Records {
					if d := ev.datas(t); slices.Contains(d, "poison") {
						if c.in.FunctionResponseTypes != nil {
							i := slices.Index(d, "poison")
							return &invoke.Response{StatusCode: 200, Payload: fmt.Appendf(nil,
								`{"batchItemFailures":[{"itemIdentifier":"%s"}]}`, ev.Records[i].JetStream.SequenceNumber)}, nil
						}
						return failWith(ev)
					}
					_ = r
				}
				return &invoke.Response{StatusCode: 200, Payload: []byte(`null`)}, nil
			})
			e.publish("p.x", "a", "b", "poison", "c")
			in := c.in
			in.EventSourceArn = &arn
			in.BatchSize = ptr(4)
			in.MaximumBatchingWindowInSeconds = ptr(1)
			in.DestinationConfig = &esm.DestinationConfig{OnFailure: &async.Destination{Destination: dest}}
			m := e.create(in)
			waitFor(t, func() bool { return len(e.sender.to(dest)) == 1 }, "the failure record")
			e.publish("p.x", "after")
			waitFor(t, func() bool { return slices.Contains(e.fn.seen(t), "after") }, "the record after the poison one")
			rec, info := failureRecord(t, e.sender.to(dest)[0])
			if rec.RequestContext.Condition != esm.ConditionRetryAttemptsExhausted || rec.RequestContext.FunctionArn != m.FunctionArn ||
				rec.Version != "1.0" || rec.RequestContext.ApproximateInvokeCount < 2 {
				t.Errorf("failure record %+v", rec)
			}
			if info["startSequenceNumber"] != c.wantSeq || info["batchSize"] != float64(len(c.wantFailed)) || info["streamArn"] != arn {
				t.Errorf("batch info %v, want from sequence %s, %d records", info, c.wantSeq, len(c.wantFailed))
			}
			st := e.svc.Stats()[0]
			if st.Failed != int64(len(c.wantFailed)) {
				t.Errorf("failed = %d, want %d", st.Failed, len(c.wantFailed))
			}
			for _, d := range []string{"a", "b", "c"} {
				if !slices.Contains(e.fn.seen(t), d) && !slices.Contains(c.wantFailed, d) {
					t.Errorf("%s was neither processed nor sent to the destination", d)
				}
			}
		})
	}
}

func TestARecordTooOldIsNotRetried(t *testing.T) {
	e := newEnv(t)
	arn := e.stream("old")
	e.fn.set(failWith)
	const dest = "arn:aws:lambda:us-east-1:000000000000:function:other"
	e.publish("old.x", "stale")
	// The service's clock runs two minutes ahead, so the record is older than 60 s at once.
	e.svc.Close()
	svc, err := esm.New(t.Context(), esm.Config{JetStream: e.js, Invoker: e.fn, Functions: e.fn, Sender: e.sender, ARNs: arns,
		RetryBaseDelay: 10 * time.Millisecond, Now: func() time.Time { return time.Now().Add(2 * time.Minute) }})
	if err != nil {
		t.Fatal(err)
	}
	svc.Start()
	t.Cleanup(svc.Close)
	e.svc = svc
	e.create(esm.Input{EventSourceArn: &arn, MaximumRecordAgeInSeconds: ptr(60),
		DestinationConfig: &esm.DestinationConfig{OnFailure: &async.Destination{Destination: dest}}})
	waitFor(t, func() bool { return len(e.sender.to(dest)) == 1 }, "the failure record")
	rec, _ := failureRecord(t, e.sender.to(dest)[0])
	if rec.RequestContext.Condition != esm.ConditionRecordAgeExceeded || e.fn.batchCount() != 1 {
		t.Fatalf("condition %q after %d invocations, want one and no retry", rec.RequestContext.Condition, e.fn.batchCount())
	}
}

func TestThrottledBatchesWaitAndAreNotCountedAsFailures(t *testing.T) {
	e := newEnv(t)
	arn := e.stream("th")
	var throttles atomic.Int32
	e.fn.set(func(ev event) (*invoke.Response, error) {
		if throttles.Add(1) <= 5 {
			return nil, lambdaerr.New(lambdaerr.TooManyRequests, "Rate Exceeded.")
		}
		return &invoke.Response{StatusCode: 200, Payload: []byte(`null`)}, nil
	})
	e.publish("th.x", "one", "two")
	e.create(esm.Input{EventSourceArn: &arn, MaximumRetryAttempts: ptr(0), MaximumBatchingWindowInSeconds: ptr(1),
		DestinationConfig: &esm.DestinationConfig{OnFailure: &async.Destination{Destination: "arn:aws:nats:us-east-1:000000000000:subject:f"}}})
	waitFor(t, func() bool { return len(e.fn.seen(t)) == 2 }, "both records")
	st := e.svc.Stats()[0]
	if st.Failed != 0 || st.Throttled < 5 || len(e.sender.to("arn:aws:nats:us-east-1:000000000000:subject:f")) != 0 {
		t.Fatalf("stats %+v: a throttled batch was counted as failed", st)
	}
}

func TestUnfinishedRecordsAreProcessedAfterARestart(t *testing.T) {
	e := newEnv(t)
	arn := e.stream("r")
	release := make(chan struct{})
	var started atomic.Bool
	e.fn.set(func(ev event) (*invoke.Response, error) {
		started.Store(true)
		<-release
		return nil, lambdaerr.New(lambdaerr.ServiceException, "stopping")
	})
	e.publish("r.x", numbered("m", 20)...)
	m := e.create(esm.Input{EventSourceArn: &arn, BatchSize: ptr(5)})
	waitFor(t, started.Load, "a batch to be running")
	done := make(chan struct{})
	go func() { e.svc.Close(); close(done) }()
	close(release)
	<-done
	e.fn.set(func(ev event) (*invoke.Response, error) {
		return &invoke.Response{StatusCode: 200, Payload: []byte("null")}, nil
	})
	e.svc = e.open()
	waitFor(t, func() bool { return len(e.fn.seen(t)) >= 20 }, "every record after the restart")
	got := e.fn.seen(t)
	for _, want := range numbered("m", 20) {
		if !slices.Contains(got, want) {
			t.Fatalf("%s was lost: saw %v", want, got)
		}
	}
	if mm, _ := e.svc.Get(m.UUID); mm.State != esm.StateEnabled {
		t.Fatalf("state after restart %s", mm.State)
	}
}

func TestParallelizationKeepsEachSubjectInOrder(t *testing.T) {
	e := newEnv(t)
	arn := e.stream("par")
	for i := range 30 {
		for _, s := range []string{"a", "b", "c", "d"} {
			e.publish("par."+s, fmt.Sprintf("%s-%02d", s, i))
		}
	}
	e.create(esm.Input{EventSourceArn: &arn, BatchSize: ptr(7), ParallelizationFactor: ptr(4)})
	waitFor(t, func() bool { return len(e.fn.seen(t)) >= 120 }, "120 records")
	last := map[string]string{}
	for _, d := range e.fn.seen(t) {
		s := strings.Split(d, "-")[0]
		if d <= last[s] {
			t.Fatalf("%s came after %s", d, last[s])
		}
		last[s] = d
	}
}

func TestAQualifiedFunctionNameInvokesThatQualifier(t *testing.T) {
	e := newEnv(t)
	arn := e.stream("q")
	var qualifiers []string
	var mu sync.Mutex
	e.svc.Close()
	inv := invokerFunc(func(ctx context.Context, req *invoke.Request) (*invoke.Response, error) {
		mu.Lock()
		qualifiers = append(qualifiers, req.Qualifier)
		mu.Unlock()
		return &invoke.Response{StatusCode: 200, Payload: []byte("null")}, nil
	})
	svc, err := esm.New(t.Context(), esm.Config{JetStream: e.js, Invoker: inv, Functions: e.fn, Sender: e.sender, ARNs: arns})
	if err != nil {
		t.Fatal(err)
	}
	svc.Start()
	t.Cleanup(svc.Close)
	e.svc = svc
	m := e.create(esm.Input{EventSourceArn: &arn, FunctionName: ptr(arns.FunctionARN("fn", "live"))})
	if m.FunctionArn != arns.FunctionARN("fn", "live") {
		t.Fatalf("FunctionArn %s, want the alias's ARN", m.FunctionArn)
	}
	if _, err := e.svc.Create(t.Context(), &esm.Input{EventSourceArn: &arn, FunctionName: ptr("fn:nope"), StartingPosition: ptr(esm.Latest)}); lambdaerr.As(err).Type != lambdaerr.ResourceNotFound {
		t.Fatalf("a mapping of a missing alias: %v, want ResourceNotFoundException", err)
	}
	e.publish("q.x", "one")
	waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(qualifiers) == 1 }, "the invocation")
	if qualifiers[0] != "live" {
		t.Fatalf("invoked qualifier %q, want live", qualifiers[0])
	}
	if got, _, _ := e.svc.List("fn:live", "", "", 0); len(got) != 1 {
		t.Fatalf("listing by the qualified name found %d mappings", len(got))
	}
}

type invokerFunc func(ctx context.Context, req *invoke.Request) (*invoke.Response, error)

func (f invokerFunc) Invoke(ctx context.Context, req *invoke.Request) (*invoke.Response, error) {
	return f(ctx, req)
}
