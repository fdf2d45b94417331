package server_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/ember-serverless/ember/internal/placement"
	"github.com/ember-serverless/ember/internal/server"
)

// TestFunctionsGrowingToTheirLimitNeverOvercommitTheHost runs 1 GB functions, each taking
// nearly all of its memory at once, on two workers with room for four of them: the fifth and
// sixth are throttled with Ember's reason before they start, one growing past its limit is
// stopped by its own limit, and the server serves on. (Bounded to 4 GB of this host's memory.)
func TestFunctionsGrowingToTheirLimitNeverOvercommitTheHost(t *testing.T) {
	ctx := context.Background()
	s, c := start(t, t.TempDir(), func(cfg *server.Config) { cfg.Workers, cfg.WorkerMemoryMB = 2, 2048 })
	defer stop(t, s)
	zip := buildZip(t)
	const n = 6
	for i := range n {
		if _, err := c.CreateFunction(ctx, &lambda.CreateFunctionInput{
			FunctionName: aws.String(fmt.Sprint("big", i)), Runtime: types.RuntimeProvidedal2023, MemorySize: aws.Int32(1024),
			Role: aws.String("arn:aws:iam::000000000000:role/r"), Handler: aws.String("bootstrap"), Timeout: aws.Int32(60),
			Code: &types.FunctionCode{ZipFile: zip},
		}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		waitActive(t, c, fmt.Sprint("big", i))
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	ran, refused := 0, 0
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(fmt.Sprint("big", i)),
				Payload: []byte(`{"op":"grow","n":900,"ms":4000}`)}, noRetries)
			mu.Lock()
			defer mu.Unlock()
			var tm *types.TooManyRequestsException
			switch {
			case errors.As(err, &tm) && string(tm.Reason) == placement.ReasonCapacity:
				refused++
			case err == nil && out.FunctionError == nil && strings.Contains(string(out.Payload), `"grew":900`):
				ran++
			default:
				t.Errorf("big%d: %v %s", i, err, payloadOf(out))
			}
		}()
	}
	wg.Wait()
	if ran != 4 || refused != 2 {
		t.Errorf("%d ran and %d were refused, want 4 and 2: four 1 GB sandboxes fill two 2 GB workers", ran, refused)
	}
	// Past its limit, a function is stopped by its own memory limit, not the host's.
	out, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("big0"), Payload: []byte(`{"op":"grow","n":1200}`)}, noRetries)
	if err != nil || out.FunctionError == nil {
		t.Errorf("growing past the limit: %v %s, want a function error", err, payloadOf(out))
	}
	if _, err := c.GetAccountSettings(ctx, &lambda.GetAccountSettingsInput{}); err != nil {
		t.Errorf("the server stopped answering: %v", err)
	}
}

func payloadOf(out *lambda.InvokeOutput) string {
	if out == nil {
		return ""
	}
	return string(out.Payload)
}

// waitActive waits until the function can be invoked.
func waitActive(t *testing.T, c *lambda.Client, name string) {
	t.Helper()
	w := lambda.NewFunctionActiveV2Waiter(c)
	if err := w.Wait(context.Background(), &lambda.GetFunctionInput{FunctionName: aws.String(name)}, 30*time.Second); err != nil {
		t.Fatalf("%s never became active: %v", name, err)
	}
}
