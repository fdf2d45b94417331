// Command context returns what the function can see of its invocation: the request id,
// function ARN, deadline and the environment Lambda sets.
package main

import (
	"context"
	"os"
	"strings"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

// Result is the function's response.
type Result struct {
	RequestID   string            `json:"request_id"`
	FunctionARN string            `json:"function_arn"`
	DeadlineMS  int64             `json:"deadline_ms"`
	Env         map[string]string `json:"env"`
	Cwd         string            `json:"cwd"`
}

func main() {
	lambda.Start(func(ctx context.Context) (Result, error) {
		var r Result
		if lc, ok := lambdacontext.FromContext(ctx); ok {
			r.RequestID = lc.AwsRequestID
			r.FunctionARN = lc.InvokedFunctionArn
		}
		if d, ok := ctx.Deadline(); ok {
			r.DeadlineMS = d.UnixMilli()
		}
		r.Env = map[string]string{}
		for _, kv := range os.Environ() {
			k, v, _ := strings.Cut(kv, "=")
			r.Env[k] = v
		}
		r.Cwd, _ = os.Getwd()
		return r, nil
	})
}
