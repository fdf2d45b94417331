// Command hello is the sample function `make demo` deploys: an aws-lambda-go handler that
// greets whoever the event names.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

// Event is what the function is invoked with.
type Event struct {
	Name string `json:"name"`
}

// Response is what it returns.
type Response struct {
	Message   string `json:"message"`
	RequestID string `json:"request_id"`
	Function  string `json:"function"`
}

func handle(ctx context.Context, ev Event) (Response, error) {
	if ev.Name == "" {
		ev.Name = "world"
	}
	fmt.Printf("greeting %s\n", ev.Name) // goes to the function's log
	r := Response{Message: "Hello, " + ev.Name + "!", Function: os.Getenv("AWS_LAMBDA_FUNCTION_NAME")}
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		r.RequestID = lc.AwsRequestID
	}
	return r, nil
}

func main() {
	lambda.Start(handle)
}
