// Command fn is a test function for the worker's tests: the event's "op" says what it does.
package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

type event struct {
	Op    string `json:"op"`
	MS    int    `json:"ms"`
	Lines int    `json:"lines"`
	Text  string `json:"text"`
}

var calls int

func handle(ctx context.Context, ev event) (any, error) {
	calls++
	lc, _ := lambdacontext.FromContext(ctx)
	switch ev.Op {
	case "error":
		return nil, errors.New("it went wrong: " + ev.Text)
	case "panic":
		panic("boom")
	case "exit":
		fmt.Println("exiting now")
		os.Exit(3)
	case "sleep":
		time.Sleep(time.Duration(ev.MS) * time.Millisecond)
	case "log":
		for i := 0; i < ev.Lines; i++ {
			fmt.Printf("line %d %s\n", i, ev.Text)
		}
		fmt.Print("no newline at the end")
	case "env":
		env := map[string]string{}
		for _, kv := range os.Environ() {
			k, v, _ := strings.Cut(kv, "=")
			env[k] = v
		}
		dl, _ := ctx.Deadline()
		return map[string]any{"env": env, "requestId": lc.AwsRequestID, "arn": lc.InvokedFunctionArn,
			"deadlineMs": dl.UnixMilli()}, nil
	}
	return map[string]any{"op": ev.Op, "calls": calls, "text": ev.Text}, nil
}

func main() {
	if os.Getenv("INIT_POST") != "" {
		// Report an init error through the Runtime API, then exit at once, as AWS's
		// runtime clients do.
		http.Post("http://"+os.Getenv("AWS_LAMBDA_RUNTIME_API")+"/2018-06-01/runtime/init/error", "application/json",
			strings.NewReader(`{"errorType":"Custom.Init","errorMessage":"bad config"}`))
		os.Exit(1)
	}
	if os.Getenv("INIT_FAIL") != "" {
		fmt.Println("cannot initialise")
		os.Exit(2)
	}
	lambda.Start(handle)
}
