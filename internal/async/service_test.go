package async_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ember-serverless/ember/internal/async"
	"github.com/ember-serverless/ember/internal/invoke"
	"github.com/ember-serverless/ember/internal/lambdaerr"
	"github.com/ember-serverless/ember/internal/state/statetest"
	"github.com/ember-serverless/ember/internal/testenv"
)

func TestAnAcceptedEventRunsThroughTheSynchronousPath(t *testing.T) {
	f := newFake()
	f.set("f", ok)
	s := start(t, fastConfig(newState(t), f))
	id := enqueue(t, s, "f", `{"n":1}`)
	select {
	case req := <-f.ran:
		if req.RequestID != id || string(req.Payload) != `{"n":1}` || req.Type != invoke.RequestResponse {
			t.Errorf("the function was handed %+v; want the event's request ID %s and payload, run synchronously", req, id)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the event never ran")
	}
}

func TestIntakeRefusesWhatLambdaRefuses(t *testing.T) {
	f := newFake()
	f.set("f", ok)
	s := start(t, fastConfig(newState(t), f))
	cases := []struct {
		name string
		req  invoke.Request
		want lambdaerr.Type
	}{
		{"an unknown function is ResourceNotFound, not 202", invoke.Request{Function: "nope"}, lambdaerr.ResourceNotFound},
		{"an unknown qualifier is ResourceNotFound", invoke.Request{Function: "f", Qualifier: "7"}, lambdaerr.ResourceNotFound},
		{"a payload over 1 MB is RequestTooLarge", invoke.Request{Function: "f", Payload: make([]byte, async.MaxEventPayload+1)}, lambdaerr.RequestTooLarge},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Enqueue(context.Background(), &tc.req)
			var le *lambdaerr.Error
			if !errors.As(err, &le) || le.Type != tc.want {
				t.Fatalf("got %v, want %s", err, tc.want)
			}
		})
	}
	stats, _ := s.Stats(context.Background())
	for _, st := range stats {
		if st.Depth != 0 || st.Received != 0 {
			t.Errorf("a refused event was queued: %+v", st)
		}
	}
}

func TestAFunctionErrorIsRetriedMaximumRetryAttemptsTimesThenGoesToOnFailure(t *testing.T) {
	for _, retries := range []int{0, 1, 2} {
		t.Run(fmt.Sprintf("with MaximumRetryAttempts %d the function runs %d times", retries, retries+1), func(t *testing.T) {
			st := newState(t)
			f := newFake()
			f.set("f", fails)
			s := start(t, fastConfig(st, f))
			read := subjectReader(t, st.JetStream(), "FAILED", "failed.f")
			if _, err := s.Configs().Put(context.Background(), "f", "", &async.ConfigInput{MaximumRetryAttempts: intp(retries),
				DestinationConfig: &async.DestinationConfig{OnFailure: &async.Destination{Destination: arns.SubjectARN("failed.f")}}}); err != nil {
				t.Fatal(err)
			}
			id := enqueue(t, s, "f", `{"k":"v"}`)
			testenv.CheckFor(t, 30*time.Second, 20*time.Millisecond, func() error {
				if n := len(read()); n != 1 {
					return fmt.Errorf("%d failure records, want 1", n)
				}
				return nil
			})
			if n := f.callsOf("f"); n != retries+1 {
				t.Errorf("the function ran %d times, want %d", n, retries+1)
			}
			r := decodeRecord(t, read()[0].Data())
			if r.Version != "1.0" || r.RequestContext.RequestID != id || r.RequestContext.Condition != async.ConditionRetriesExhausted ||
				r.RequestContext.ApproximateInvokeCount != retries+1 || r.RequestContext.FunctionArn != arns.FunctionARN("f", "$LATEST") ||
				string(r.RequestPayload) != `{"k":"v"}` || r.ResponseContext == nil || r.ResponseContext.FunctionError != "Unhandled" ||
				r.ResponseContext.StatusCode != 200 || r.ResponseContext.ExecutedVersion != "$LATEST" ||
				string(r.ResponsePayload) != `{"errorMessage":"boom","errorType":"Error"}` {
				t.Errorf("failure record %+v", r)
			}
			if _, err := time.Parse(async.RecordTimeLayout, r.Timestamp); err != nil {
				t.Errorf("timestamp %q: %v", r.Timestamp, err)
			}
		})
	}
}

func TestRetriesWaitTheBackOff(t *testing.T) {
	st := newState(t)
	f := newFake()
	var times []time.Time
	f.set("f", func(req *invoke.Request) (*invoke.Response, error) {
		times = append(times, time.Now())
		return fails(req)
	})
	cfg := fastConfig(st, f)
	cfg.RetryBaseDelay = 300 * time.Millisecond
	cfg.PollersPerFunction = 1
	s := start(t, cfg)
	enqueue(t, s, "f", `1`)
	testenv.CheckFor(t, 30*time.Second, 20*time.Millisecond, func() error {
		if f.callsOf("f") < 3 {
			return fmt.Errorf("%d runs, want 3", f.callsOf("f"))
		}
		return nil
	})
	if d := times[1].Sub(times[0]); d < 300*time.Millisecond {
		t.Errorf("the first retry came %s after the first run, want at least the base delay", d)
	}
	if d := times[2].Sub(times[1]); d < 600*time.Millisecond {
		t.Errorf("the second retry came %s after the first, want at least twice the base delay", d)
	}
}

func TestASuccessGoesToOnSuccessAsAnInvocationOfTheDestinationFunction(t *testing.T) {
	f := newFake()
	f.set("f", ok)
	f.set("dest", ok)
	s := start(t, fastConfig(newState(t), f))
	if _, err := s.Configs().Put(context.Background(), "f", "", &async.ConfigInput{
		DestinationConfig: &async.DestinationConfig{OnSuccess: &async.Destination{Destination: arns.FunctionARN("dest", "")}}}); err != nil {
		t.Fatal(err)
	}
	id := enqueue(t, s, "f", `{"a":1}`)
	var rec *invoke.Request
	testenv.CheckFor(t, 30*time.Second, 20*time.Millisecond, func() error {
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, c := range f.calls {
			if c.Function == "dest" {
				rec = c
				return nil
			}
		}
		return errors.New("the destination function was not invoked")
	})
	r := decodeRecord(t, rec.Payload)
	if r.RequestContext.Condition != async.ConditionSuccess || r.RequestContext.RequestID != id || string(r.ResponsePayload) != `"done"` ||
		r.ResponseContext == nil || r.ResponseContext.FunctionError != "" || r.RequestContext.ApproximateInvokeCount != 1 {
		t.Errorf("success record %s", rec.Payload)
	}
	if rec.RequestID == id || rec.RequestID == "" {
		t.Errorf("the destination's invocation has request ID %q; want one of its own", rec.RequestID)
	}
}

func TestAThrottledEventWaitsAndRunsWithoutUsingARetry(t *testing.T) {
	f := newFake()
	var n atomic.Int32
	f.set("f", func(req *invoke.Request) (*invoke.Response, error) {
		if n.Add(1) <= 4 {
			return nil, &lambdaerr.Error{Type: lambdaerr.TooManyRequests, Message: "Rate Exceeded."}
		}
		return ok(req)
	})
	cfg := fastConfig(newState(t), f)
	s := start(t, cfg)
	if _, err := s.Configs().Put(context.Background(), "f", "", &async.ConfigInput{MaximumRetryAttempts: intp(0)}); err != nil {
		t.Fatal(err)
	}
	enqueue(t, s, "f", `1`)
	testenv.CheckFor(t, 30*time.Second, 20*time.Millisecond, func() error {
		stats, _ := s.Stats(context.Background())
		for _, st := range stats {
			if st.Function == "f" && st.Succeeded == 1 && st.Retried == 4 && st.Depth == 0 {
				return nil
			}
		}
		return fmt.Errorf("stats %+v; want one success after four throttles", stats)
	})
}

func TestAnExpiredEventGoesToTheDeadLetterQueueWithLambdasAttributes(t *testing.T) {
	st := newState(t)
	f := newFake()
	f.set("f", func(*invoke.Request) (*invoke.Response, error) {
		return nil, &lambdaerr.Error{Type: lambdaerr.TooManyRequests, Message: "Rate Exceeded."}
	})
	f.dlq["f"] = arns.SubjectARN("dlq.f")
	read := subjectReader(t, st.JetStream(), "DLQ", "dlq.f")
	clock := time.Now()
	var offset atomic.Int64
	cfg := fastConfig(st, f)
	cfg.Now = func() time.Time { return clock.Add(time.Since(clock) + time.Duration(offset.Load())) }
	s := start(t, cfg)
	if _, err := s.Configs().Put(context.Background(), "f", "", &async.ConfigInput{MaximumEventAgeInSeconds: intp(60)}); err != nil {
		t.Fatal(err)
	}
	id := enqueue(t, s, "f", `{"lost":true}`)
	testenv.CheckFor(t, 30*time.Second, 20*time.Millisecond, func() error {
		if f.callsOf("f") < 2 {
			return errors.New("not throttled twice yet")
		}
		return nil
	})
	offset.Store(int64(61 * time.Second)) // the event is now older than its maximum age
	testenv.CheckFor(t, 30*time.Second, 20*time.Millisecond, func() error {
		if len(read()) != 1 {
			return errors.New("nothing in the dead-letter queue")
		}
		return nil
	})
	m := read()[0]
	if string(m.Data()) != `{"lost":true}` || m.Headers().Get("RequestID") != id || m.Headers().Get("ErrorCode") != "429" ||
		m.Headers().Get("ErrorMessage") == "" {
		t.Errorf("dead letter %s with headers %v", m.Data(), m.Headers())
	}
	stats, _ := s.Stats(context.Background())
	if len(stats) != 1 || stats[0].Dropped != 1 || stats[0].DeadLetters != 1 || stats[0].Depth != 0 {
		t.Errorf("stats %+v; want the event dropped for its age and dead-lettered", stats)
	}
}

func TestOneFunctionsFloodDoesNotStarveAnother(t *testing.T) {
	f := newFake()
	gate := make(chan struct{})
	f.set("flood", func(req *invoke.Request) (*invoke.Response, error) { <-gate; return ok(req) })
	f.set("quiet", ok)
	cfg := fastConfig(newState(t), f)
	cfg.AckWait = time.Minute
	s := start(t, cfg)
	defer close(gate)
	for i := range 500 {
		enqueue(t, s, "flood", fmt.Sprint(i))
	}
	enqueue(t, s, "quiet", `"me"`)
	testenv.CheckFor(t, 30*time.Second, 20*time.Millisecond, func() error {
		if f.callsOf("quiet") != 1 {
			return errors.New("the quiet function's event has not run while the flood waits")
		}
		return nil
	})
	if n := f.callsOf("flood"); n > async.DefaultPollersPerFunction {
		t.Errorf("%d of the flooding function's events run at once, want at most %d", n, async.DefaultPollersPerFunction)
	}
}

func TestDrainRefusesIntakeAndReturnsRunningEventsToTheQueue(t *testing.T) {
	dir := t.TempDir()
	st := statetest.NewIn(t, dir)
	f := newFake()
	started := make(chan struct{}, 1)
	f.set("slow", func(req *invoke.Request) (*invoke.Response, error) {
		started <- struct{}{}
		time.Sleep(time.Hour) // never finishes: the drain's deadline abandons it
		return ok(req)
	})
	cfg := fastConfig(st, f)
	cfg.AckWait = time.Minute
	s, err := async.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.Start(context.Background())
	id := enqueue(t, s, "slow", `1`)
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := s.Drain(ctx); err == nil {
		t.Error("a drain that abandoned a running event reports it")
	}
	_, err = s.Enqueue(context.Background(), &invoke.Request{Function: "slow", Payload: []byte(`2`)})
	var le *lambdaerr.Error
	if !errors.As(err, &le) || le.HTTPStatus() != 503 {
		t.Errorf("intake while draining got %v, want a 503 ServiceUnavailable", err)
	}
	s.Close()

	// A new service on the same queue runs the abandoned event at once: it went back.
	f2 := newFake()
	f2.set("slow", ok)
	s2 := start(t, fastConfig(st, f2))
	_ = s2
	select {
	case req := <-f2.ran:
		if req.RequestID != id {
			t.Errorf("ran %s, want the abandoned %s", req.RequestID, id)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the abandoned event did not go back to the queue")
	}
}

func TestAnEventWhoseRunWasNeverSettledRunsAgainAndCountsAsADuplicate(t *testing.T) {
	dir := t.TempDir()
	st := statetest.NewIn(t, dir)
	f := newFake()
	started := make(chan struct{}, 1)
	f.set("f", func(req *invoke.Request) (*invoke.Response, error) {
		started <- struct{}{}
		select {} // the process "dies" mid-run: nothing is ever settled
	})
	cfg := fastConfig(st, f)
	s, err := async.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.Start(context.Background())
	id := enqueue(t, s, "f", `1`)
	<-started
	st.Close() // the connection goes without acknowledging anything, as after a kill -9

	st2 := statetest.NewIn(t, dir)
	f2 := newFake()
	f2.set("f", ok)
	s2 := start(t, fastConfig(st2, f2))
	select {
	case req := <-f2.ran:
		if req.RequestID != id {
			t.Errorf("ran %s, want %s", req.RequestID, id)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the unsettled event did not run again after its ack wait")
	}
	testenv.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		stats, _ := s2.Stats(context.Background())
		if len(stats) != 1 || stats[0].Duplicates != 1 {
			return fmt.Errorf("stats %+v; want one duplicate counted", stats)
		}
		return nil
	})
}
