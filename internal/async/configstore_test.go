package async_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/ember-serverless/ember/internal/async"
	"github.com/ember-serverless/ember/internal/lambdaerr"
	"github.com/ember-serverless/ember/internal/state/statetest"
)

func openConfigs(t *testing.T) *async.ConfigStore {
	t.Helper()
	st := statetest.New(t)
	c, err := async.OpenConfigStore(context.Background(), st.JetStream(), 1, arns, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func errorOf(err error) *lambdaerr.Error {
	var le *lambdaerr.Error
	if errors.As(err, &le) {
		return le
	}
	return nil
}

func TestPutValidatesAsLambda(t *testing.T) {
	c := openConfigs(t)
	dest := func(s string) *async.DestinationConfig {
		return &async.DestinationConfig{OnFailure: &async.Destination{Destination: s}}
	}
	cases := []struct {
		name, want string
		in         async.ConfigInput
	}{
		{"retry attempts over 2 are refused", "Value '3' at 'maximumRetryAttempts' failed to satisfy constraint: Member must have value less than or equal to 2",
			async.ConfigInput{MaximumRetryAttempts: intp(3)}},
		{"negative retry attempts are refused", "Member must have value greater than or equal to 0", async.ConfigInput{MaximumRetryAttempts: intp(-1)}},
		{"an event age under 60 is refused", "Value '59' at 'maximumEventAgeInSeconds' failed to satisfy constraint: Member must have value greater than or equal to 60",
			async.ConfigInput{MaximumEventAgeInSeconds: intp(59)}},
		{"an event age over 21600 is refused", "Member must have value less than or equal to 21600", async.ConfigInput{MaximumEventAgeInSeconds: intp(21601)}},
		{"a destination that is not an ARN breaks the model's pattern", "at 'destinationConfig.onFailure.destination' failed to satisfy constraint: Member must satisfy regular expression pattern",
			async.ConfigInput{DestinationConfig: dest("queue-1")}},
		{"an SQS destination is refused: there is no SQS here", "names a SQS resource, which this server does not have",
			async.ConfigInput{DestinationConfig: dest("arn:aws:sqs:us-east-1:000000000000:q")}},
		{"a destination in another region is refused", "is not in this server's region and account",
			async.ConfigInput{DestinationConfig: dest("arn:aws:lambda:eu-west-1:000000000000:function:g")}},
		{"a subject with a wildcard is refused", "does not name a valid NATS subject",
			async.ConfigInput{DestinationConfig: dest("arn:aws:nats:us-east-1:000000000000:subject:a.*")}},
		{"the function itself is refused as its own destination", "as a destination for itself",
			async.ConfigInput{DestinationConfig: dest(arns.FunctionARN("f", ""))}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Put(context.Background(), "f", "", &tc.in)
			le := errorOf(err)
			if le == nil || le.Type != lambdaerr.InvalidParameterValue || !strings.Contains(le.Message, tc.want) {
				t.Fatalf("got %v, want InvalidParameterValueException containing %q", err, tc.want)
			}
			if _, err := c.Get("f", ""); errorOf(err) == nil || errorOf(err).Type != lambdaerr.ResourceNotFound {
				t.Errorf("a refused put stored something: %v", err)
			}
		})
	}
}

func TestConfigLifecycle(t *testing.T) {
	c := openConfigs(t)
	ctx := context.Background()
	t.Run("get before any put is ResourceNotFound naming the qualified ARN", func(t *testing.T) {
		_, err := c.Get("f", "")
		if le := errorOf(err); le == nil || le.Type != lambdaerr.ResourceNotFound || !strings.Contains(le.Message, "function:f:$LATEST") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("update before any put is ResourceNotFound", func(t *testing.T) {
		if _, err := c.Update(ctx, "f", "", &async.ConfigInput{MaximumRetryAttempts: intp(1)}); errorOf(err) == nil || errorOf(err).Type != lambdaerr.ResourceNotFound {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("put answers the configuration with both destinations printed", func(t *testing.T) {
		got, err := c.Put(ctx, "f", "", &async.ConfigInput{MaximumRetryAttempts: intp(1),
			DestinationConfig: &async.DestinationConfig{OnSuccess: &async.Destination{Destination: arns.SubjectARN("ok")}}})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(got)
		var m map[string]any
		json.Unmarshal(b, &m)
		if m["FunctionArn"] != arns.FunctionARN("f", "$LATEST") || m["MaximumRetryAttempts"] != 1.0 || m["MaximumEventAgeInSeconds"] != nil {
			t.Errorf("answer %s", b)
		}
		if _, ok := m["LastModified"].(float64); !ok {
			t.Errorf("LastModified is epoch seconds as a number: %s", b)
		}
		if !strings.Contains(string(b), `"DestinationConfig":{"OnSuccess":{"Destination":"arn:aws:nats:us-east-1:000000000000:subject:ok"},"OnFailure":{}}`) {
			t.Errorf("answer %s", b)
		}
	})
	t.Run("update changes only the members given", func(t *testing.T) {
		got, err := c.Update(ctx, "f", "", &async.ConfigInput{MaximumEventAgeInSeconds: intp(120)})
		if err != nil {
			t.Fatal(err)
		}
		if got.RetryAttempts() != 1 || got.OnSuccess() != arns.SubjectARN("ok") || *got.MaximumEventAgeInSeconds != 120 {
			t.Errorf("after update %+v", got)
		}
	})
	t.Run("put replaces the whole configuration", func(t *testing.T) {
		got, err := c.Put(ctx, "f", "$LATEST", &async.ConfigInput{MaximumEventAgeInSeconds: intp(60)})
		if err != nil {
			t.Fatal(err)
		}
		if got.MaximumRetryAttempts != nil || got.OnSuccess() != "" || got.RetryAttempts() != async.DefaultMaximumRetryAttempts {
			t.Errorf("after put %+v", got)
		}
	})
	t.Run("list has the function's configurations only", func(t *testing.T) {
		if _, err := c.Put(ctx, "g", "", &async.ConfigInput{}); err != nil {
			t.Fatal(err)
		}
		got, next, err := c.List("f", "", 0)
		if err != nil || len(got) != 1 || next != "" || got[0].FunctionArn != arns.FunctionARN("f", "$LATEST") {
			t.Fatalf("list %+v %q %v", got, next, err)
		}
	})
	t.Run("delete removes it, and a second delete is ResourceNotFound", func(t *testing.T) {
		if err := c.Delete(ctx, "f", ""); err != nil {
			t.Fatal(err)
		}
		if c.Lookup("f", "") != nil {
			t.Error("still there after delete")
		}
		if err := c.Delete(ctx, "f", ""); errorOf(err) == nil || errorOf(err).Type != lambdaerr.ResourceNotFound {
			t.Errorf("second delete: %v", err)
		}
	})
}

func TestConfigsSurviveAReopen(t *testing.T) {
	dir := t.TempDir()
	st := statetest.NewIn(t, dir)
	c, err := async.OpenConfigStore(context.Background(), st.JetStream(), 1, arns, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Put(context.Background(), "f", "", &async.ConfigInput{MaximumRetryAttempts: intp(0)}); err != nil {
		t.Fatal(err)
	}
	c.Close()
	st.Close()
	st = statetest.NewIn(t, dir)
	c, err = async.OpenConfigStore(context.Background(), st.JetStream(), 1, arns, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := c.Lookup("f", "$LATEST"); got == nil || got.RetryAttempts() != 0 {
		t.Errorf("after reopening: %+v", got)
	}
}
