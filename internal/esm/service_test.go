package esm_test

import (
	"context"
	"strings"
	"testing"

	"github.com/ember-serverless/ember/internal/async"
	"github.com/ember-serverless/ember/internal/esm"
	"github.com/ember-serverless/ember/internal/lambdaerr"
	"github.com/ember-serverless/ember/internal/state/statetest"
)

func TestCreateRefusesWhatLambdaRefuses(t *testing.T) {
	e := newEnv(t)
	arn := e.stream("orders")
	cases := []struct {
		name    string
		in      esm.Input
		errType lambdaerr.Type
		msg     string
	}{
		{"a mapping without a function", esm.Input{EventSourceArn: &arn, FunctionName: ptr("")}, lambdaerr.InvalidParameterValue, "functionName"},
		{"a function that does not exist", esm.Input{EventSourceArn: &arn, FunctionName: ptr("nope")}, lambdaerr.ResourceNotFound, "Function not found"},
		{"a batch size over 10,000", esm.Input{EventSourceArn: &arn, BatchSize: ptr(10001)}, lambdaerr.InvalidParameterValue, "batchSize"},
		{"a batch size of 0", esm.Input{EventSourceArn: &arn, BatchSize: ptr(0)}, lambdaerr.InvalidParameterValue, "batchSize"},
		{"a batching window over 300 s", esm.Input{EventSourceArn: &arn, MaximumBatchingWindowInSeconds: ptr(301)}, lambdaerr.InvalidParameterValue, "maximumBatchingWindowInSeconds"},
		{"a parallelization factor of 11", esm.Input{EventSourceArn: &arn, ParallelizationFactor: ptr(11)}, lambdaerr.InvalidParameterValue, "parallelizationFactor"},
		{"a record age under 60 s", esm.Input{EventSourceArn: &arn, MaximumRecordAgeInSeconds: ptr(30)}, lambdaerr.InvalidParameterValue, "MaximumRecordAgeInSeconds"},
		{"retry attempts of -2", esm.Input{EventSourceArn: &arn, MaximumRetryAttempts: ptr(-2)}, lambdaerr.InvalidParameterValue, "maximumRetryAttempts"},
		{"an unknown starting position", esm.Input{EventSourceArn: &arn, StartingPosition: ptr("OLDEST")}, lambdaerr.InvalidParameterValue, "startingPosition"},
		{"a stream without a starting position", esm.Input{EventSourceArn: &arn, StartingPosition: ptr("")}, lambdaerr.InvalidParameterValue, "startingPosition"},
		{"AT_TIMESTAMP without a timestamp", esm.Input{EventSourceArn: &arn, StartingPosition: ptr(esm.AtTimestamp)}, lambdaerr.InvalidParameterValue, "StartingPositionTimestamp"},
		{"a stream that does not exist", esm.Input{EventSourceArn: ptr(esm.StreamARN(arns.Region, arns.AccountID, "nope", ""))}, lambdaerr.InvalidParameterValue, "Stream not found"},
		{"an SQS queue", esm.Input{EventSourceArn: ptr("arn:aws:sqs:us-east-1:000000000000:q")}, lambdaerr.InvalidParameterValue, "not supported"},
		{"an invalid filter", esm.Input{EventSourceArn: &arn, FilterCriteria: &esm.FilterCriteria{Filters: []esm.Filter{{Pattern: `{"data":"x"}`}}}}, lambdaerr.InvalidParameterValue, "Invalid filter pattern"},
		{"an OnSuccess destination", esm.Input{EventSourceArn: &arn, DestinationConfig: &esm.DestinationConfig{OnSuccess: &async.Destination{Destination: "arn:aws:lambda:us-east-1:000000000000:function:other"}}}, lambdaerr.InvalidParameterValue, "Unsupported DestinationConfig"},
		{"an SQS failure destination", esm.Input{EventSourceArn: &arn, DestinationConfig: &esm.DestinationConfig{OnFailure: &async.Destination{Destination: "arn:aws:sqs:us-east-1:000000000000:dlq"}}}, lambdaerr.InvalidParameterValue, "SQS"},
		{"an unknown function response type", esm.Input{EventSourceArn: &arn, FunctionResponseTypes: []string{"Other"}}, lambdaerr.InvalidParameterValue, "functionResponseTypes"},
		{"a tumbling window", esm.Input{EventSourceArn: &arn, TumblingWindowInSeconds: ptr(60)}, lambdaerr.InvalidParameterValue, "TumblingWindowInSeconds"},
		{"a maximum concurrency of 1", esm.Input{EventSourceArn: &arn, ScalingConfig: &esm.ScalingConfig{MaximumConcurrency: ptr(1)}}, lambdaerr.InvalidParameterValue, "maximumConcurrency"},
		{"Kafka without topics", esm.Input{SelfManagedEventSource: &esm.SelfManagedEventSource{Endpoints: map[string][]string{"KAFKA_BOOTSTRAP_SERVERS": {"127.0.0.1:9092"}}}, StartingPosition: ptr(esm.Latest)}, lambdaerr.InvalidParameterValue, "Topics"},
		{"a RabbitMQ broker without queues", esm.Input{EventSourceArn: ptr("arn:aws:mq:us-east-1:000000000000:broker:127.0.0.1:5672")}, lambdaerr.InvalidParameterValue, "Queues"},
	}
	for _, c := range cases {
		t.Run("it refuses "+c.name, func(t *testing.T) {
			if c.in.FunctionName == nil {
				c.in.FunctionName = ptr("fn")
			}
			if c.in.StartingPosition == nil {
				c.in.StartingPosition = ptr(esm.TrimHorizon)
			} else if *c.in.StartingPosition == "" {
				c.in.StartingPosition = nil
			}
			_, err := e.svc.Create(context.Background(), &c.in)
			le := lambdaerr.As(err)
			if err == nil || le.Type != c.errType || !strings.Contains(le.Message, c.msg) {
				t.Fatalf("Create = %v, want %s mentioning %q", err, c.errType, c.msg)
			}
		})
	}
	if got, _, _ := e.svc.List("", "", "", 0); len(got) != 0 {
		t.Fatalf("refused creates stored %d mappings", len(got))
	}
}

func TestAMappingGoesThroughLambdasStates(t *testing.T) {
	e := newEnv(t)
	arn := e.stream("orders")
	m := e.create(esm.Input{EventSourceArn: &arn, BatchSize: ptr(10)})
	if m.State != esm.StateCreating || m.UUID == "" || m.FunctionArn != arns.FunctionARN("fn", "") {
		t.Fatalf("created %+v, want Creating with a UUID and the function's ARN", m)
	}
	e.waitState(m.UUID, esm.StateEnabled)

	t.Run("a second mapping of the same source and function is a conflict", func(t *testing.T) {
		_, err := e.svc.Create(context.Background(), &esm.Input{EventSourceArn: &arn, FunctionName: ptr("fn"), StartingPosition: ptr(esm.Latest)})
		if lambdaerr.As(err).Type != lambdaerr.ResourceConflict || !strings.Contains(err.Error(), m.UUID) {
			t.Fatalf("Create = %v, want ResourceConflictException naming %s", err, m.UUID)
		}
	})
	t.Run("disabling goes through Disabling to Disabled", func(t *testing.T) {
		u, err := e.svc.Update(context.Background(), m.UUID, &esm.Input{Enabled: ptr(false)})
		if err != nil || u.State != esm.StateDisabling {
			t.Fatalf("Update = %+v, %v; want Disabling", u, err)
		}
		e.waitState(m.UUID, esm.StateDisabled)
	})
	t.Run("enabling goes through Enabling to Enabled and keeps the other settings", func(t *testing.T) {
		u, err := e.svc.Update(context.Background(), m.UUID, &esm.Input{Enabled: ptr(true), BatchSize: ptr(5)})
		if err != nil || u.State != esm.StateEnabling || u.BatchSize != 5 {
			t.Fatalf("Update = %+v, %v; want Enabling with batch size 5", u, err)
		}
		e.waitState(m.UUID, esm.StateEnabled)
	})
	t.Run("changing the starting position is refused", func(t *testing.T) {
		if _, err := e.svc.Update(context.Background(), m.UUID, &esm.Input{StartingPosition: ptr(esm.Latest)}); lambdaerr.As(err).Type != lambdaerr.InvalidParameterValue {
			t.Fatalf("Update = %v, want InvalidParameterValueException", err)
		}
	})
	t.Run("an unknown UUID is not found", func(t *testing.T) {
		if _, err := e.svc.Get("00000000-0000-0000-0000-000000000000"); lambdaerr.As(err).Type != lambdaerr.ResourceNotFound {
			t.Fatalf("Get = %v, want ResourceNotFoundException", err)
		}
	})
	t.Run("the mapping survives a restart, enabled", func(t *testing.T) {
		e.svc.Close()
		e.svc = e.open()
		got, err := e.svc.Get(m.UUID)
		if err != nil || got.BatchSize != 5 || got.State != esm.StateEnabled {
			t.Fatalf("after restart Get = %+v, %v", got, err)
		}
	})
	t.Run("deleting answers Deleting, then the mapping is gone", func(t *testing.T) {
		d, err := e.svc.Delete(context.Background(), m.UUID)
		if err != nil || d.State != esm.StateDeleting {
			t.Fatalf("Delete = %+v, %v; want Deleting", d, err)
		}
		waitFor(t, func() bool { _, err := e.svc.Get(m.UUID); return err != nil }, "the mapping to go")
		if _, err := e.js.Consumer(context.Background(), "orders", "esm-"+m.UUID); err == nil {
			t.Fatal("the deleted mapping's consumer is still there")
		}
	})
}

func TestListFiltersByFunctionAndSourceAndPages(t *testing.T) {
	e := newEnv(t)
	a, b := e.stream("a"), e.stream("b")
	m1 := e.create(esm.Input{EventSourceArn: &a})
	e.create(esm.Input{EventSourceArn: &b})
	e.create(esm.Input{EventSourceArn: &a, FunctionName: ptr("other")})
	cases := []struct {
		name, fn, src string
		want          int
	}{
		{"every mapping", "", "", 3},
		{"a function's", "fn", "", 2},
		{"a function's, by ARN", arns.FunctionARN("other", ""), "", 1},
		{"a source's", "", a, 2},
		{"a function's on a source", "fn", a, 1},
	}
	for _, c := range cases {
		t.Run("it lists "+c.name, func(t *testing.T) {
			got, _, err := e.svc.List(c.fn, c.src, "", 0)
			if err != nil || len(got) != c.want {
				t.Fatalf("List(%q, %q) = %d mappings, %v; want %d", c.fn, c.src, len(got), err, c.want)
			}
		})
	}
	t.Run("it pages with a marker", func(t *testing.T) {
		seen := map[string]bool{}
		marker := ""
		for range 3 {
			got, next, err := e.svc.List("", "", marker, 1)
			if err != nil || len(got) != 1 {
				t.Fatalf("List page = %d, %v", len(got), err)
			}
			seen[got[0].UUID] = true
			marker = next
		}
		if len(seen) != 3 || marker != "" || !seen[m1.UUID] {
			t.Fatalf("pages saw %d mappings, last marker %q", len(seen), marker)
		}
	})
}

func TestMappingsAreStoredWithTheStatesReplicas(t *testing.T) {
	st := statetest.New(t)
	_, err := esm.New(context.Background(), esm.Config{JetStream: st.JetStream(), Replicas: 1, Invoker: newFake(), Functions: newFake(),
		Sender: &fakeSender{}, ARNs: arns})
	if err != nil {
		t.Fatal(err)
	}
	kv, err := st.JetStream().KeyValue(context.Background(), esm.Bucket)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := kv.Status(context.Background())
	if s.Bucket() != esm.Bucket || s.History() != 1 {
		t.Fatalf("bucket %s history %d", s.Bucket(), s.History())
	}
}
