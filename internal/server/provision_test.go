package server_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/ember-serverless/ember/internal/testenv"
)

// waitReady waits until the version's or alias's provisioned concurrency is READY.
func waitReady(t *testing.T, c *lambda.Client, fn, q string) *lambda.GetProvisionedConcurrencyConfigOutput {
	t.Helper()
	var out *lambda.GetProvisionedConcurrencyConfigOutput
	testenv.CheckFor(t, 60*time.Second, 50*time.Millisecond, func() error {
		var err error
		out, err = c.GetProvisionedConcurrencyConfig(context.Background(), &lambda.GetProvisionedConcurrencyConfigInput{
			FunctionName: aws.String(fn), Qualifier: aws.String(q)})
		if err != nil {
			return err
		}
		if out.Status != types.ProvisionedConcurrencyStatusEnumReady {
			return fmt.Errorf("status %s (%s), %d of %d available", out.Status, aws.ToString(out.StatusReason),
				aws.ToInt32(out.AvailableProvisionedConcurrentExecutions), aws.ToInt32(out.RequestedProvisionedConcurrentExecutions))
		}
		return nil
	})
	return out
}

func TestProvisionedConcurrencyIsWarmAndRecreatedAfterARestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, c := start(t, dir)
	if _, err := c.CreateFunction(ctx, &lambda.CreateFunctionInput{
		FunctionName: aws.String("pc"), Runtime: types.RuntimeProvidedal2023, Publish: true,
		Role: aws.String("arn:aws:iam::000000000000:role/r"), Handler: aws.String("bootstrap"),
		Code: &types.FunctionCode{ZipFile: buildZip(t)},
	}); err != nil {
		t.Fatal(err)
	}
	waitActive(t, c, "pc")
	testenv.CheckFor(t, 30*time.Second, 50*time.Millisecond, func() error {
		_, err := c.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("pc"), Qualifier: aws.String("1")})
		return err
	})
	_, err := c.PutProvisionedConcurrencyConfig(ctx, &lambda.PutProvisionedConcurrencyConfigInput{FunctionName: aws.String("pc"),
		Qualifier: aws.String("$LATEST"), ProvisionedConcurrentExecutions: aws.Int32(1)})
	if err == nil || !strings.Contains(err.Error(), "unpublished function versions") {
		t.Errorf("provisioned concurrency on $LATEST: %v, want refused", err)
	}
	put, err := c.PutProvisionedConcurrencyConfig(ctx, &lambda.PutProvisionedConcurrencyConfigInput{FunctionName: aws.String("pc"),
		Qualifier: aws.String("1"), ProvisionedConcurrentExecutions: aws.Int32(2)})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToInt32(put.RequestedProvisionedConcurrentExecutions) != 2 {
		t.Errorf("Put answered %+v", put)
	}
	if got := waitReady(t, c, "pc", "1"); aws.ToInt32(got.AvailableProvisionedConcurrentExecutions) != 2 {
		t.Errorf("READY with %d available, want 2", aws.ToInt32(got.AvailableProvisionedConcurrentExecutions))
	}
	if m := scrape(t, s); metric(m, `ember_function_provisioned_sandboxes{function="pc"}`) != 2 {
		t.Errorf("the metrics do not show 2 provisioned sandboxes")
	}
	invokeWarm := func() {
		t.Helper()
		out, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("pc"), Qualifier: aws.String("1"),
			LogType: types.LogTypeTail, Payload: []byte(`{"op":"echo"}`)})
		if err != nil {
			t.Fatal(err)
		}
		tail, _ := base64.StdEncoding.DecodeString(aws.ToString(out.LogResult))
		if !strings.Contains(string(tail), "REPORT") || strings.Contains(string(tail), "Init Duration") {
			t.Errorf("a provisioned invoke's log:\n%s\nwant a REPORT without Init Duration", tail)
		}
	}
	invokeWarm()
	list, err := c.ListProvisionedConcurrencyConfigs(ctx, &lambda.ListProvisionedConcurrencyConfigsInput{FunctionName: aws.String("pc")})
	if err != nil || len(list.ProvisionedConcurrencyConfigs) != 1 || !strings.HasSuffix(aws.ToString(list.ProvisionedConcurrencyConfigs[0].FunctionArn), ":pc:1") {
		t.Errorf("List: %+v, %v", list, err)
	}
	stop(t, s)

	s, c = start(t, dir)
	defer stop(t, s)
	waitReady(t, c, "pc", "1")
	invokeWarm()
	if _, err := c.DeleteProvisionedConcurrencyConfig(ctx, &lambda.DeleteProvisionedConcurrencyConfigInput{FunctionName: aws.String("pc"),
		Qualifier: aws.String("1")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetProvisionedConcurrencyConfig(ctx, &lambda.GetProvisionedConcurrencyConfigInput{FunctionName: aws.String("pc"), Qualifier: aws.String("1")})
	var nf *types.ProvisionedConcurrencyConfigNotFoundException
	if !errors.As(err, &nf) {
		t.Errorf("Get after Delete: %v, want ProvisionedConcurrencyConfigNotFoundException", err)
	}
}
