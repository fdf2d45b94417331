package server_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/ember-serverless/ember/internal/testenv"
)

func noRetries(o *lambda.Options) { o.RetryMaxAttempts = 1 }

// TestReservedConcurrencyZeroThrottlesAndAnAsyncEventWaitsForIt shows the whole path: a
// reservation of 0 throttles a sync invoke at once with Lambda's reason, an asynchronous event
// is retried rather than dropped while it is throttled, and runs once the reservation goes.
func TestReservedConcurrencyZeroThrottlesAndAnAsyncEventWaitsForIt(t *testing.T) {
	ctx := context.Background()
	s, c := start(t, t.TempDir())
	defer stop(t, s)
	if _, err := c.CreateFunction(ctx, &lambda.CreateFunctionInput{
		FunctionName: aws.String("held"), Runtime: types.RuntimeProvidedal2023,
		Role: aws.String("arn:aws:iam::000000000000:role/r"), Handler: aws.String("bootstrap"),
		Code: &types.FunctionCode{ZipFile: buildZip(t)},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutFunctionConcurrency(ctx, &lambda.PutFunctionConcurrencyInput{FunctionName: aws.String("held"),
		ReservedConcurrentExecutions: aws.Int32(0)}); err != nil {
		t.Fatal(err)
	}
	_, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("held"), Payload: []byte(`{"op":"echo"}`)}, noRetries)
	var tm *types.TooManyRequestsException
	if !errors.As(err, &tm) || tm.Reason != types.ThrottleReasonReservedFunctionConcurrentInvocationLimitExceeded {
		t.Fatalf("a sync invoke with reserved concurrency 0: %v, want TooManyRequestsException with the reserved reason", err)
	}
	if _, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("held"), InvocationType: types.InvocationTypeEvent,
		Payload: []byte(`{"op":"echo","text":"async"}`)}); err != nil {
		t.Fatal(err)
	}
	// The event is tried, throttled and put back: the throttle count grows past the sync one.
	testenv.CheckFor(t, 30*time.Second, 50*time.Millisecond, func() error {
		m := scrape(t, s)
		if n := metric(m, `ember_function_throttles_total{function="held",reason="ReservedFunctionConcurrentInvocationLimitExceeded"}`); n < 2 {
			return fmt.Errorf("the async event was not tried and throttled (%v throttles):\n%.3000s", n, m)
		}
		return nil
	})
	if _, err := c.DeleteFunctionConcurrency(ctx, &lambda.DeleteFunctionConcurrencyInput{FunctionName: aws.String("held")}); err != nil {
		t.Fatal(err)
	}
	testenv.CheckFor(t, 60*time.Second, 100*time.Millisecond, func() error {
		if m := scrape(t, s); !strings.Contains(m, `ember_function_invocations_total{function="held"} 1`) {
			return fmt.Errorf("the throttled event has not run:\n%.3000s", m)
		}
		return nil
	})
	acct, err := c.GetAccountSettings(ctx, &lambda.GetAccountSettingsInput{})
	if err != nil || aws.ToInt32(acct.AccountLimit.UnreservedConcurrentExecutions) != 1000 {
		t.Errorf("GetAccountSettings after the reservation went: %+v, %v", acct.AccountLimit, err)
	}
}

// metric is the value of the sample named (with its labels) in a Prometheus text scrape, or -1.
func metric(scrape, name string) float64 {
	for _, line := range strings.Split(scrape, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err == nil {
				return f
			}
		}
	}
	return -1
}
