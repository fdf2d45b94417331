// Command echo is the function every benchmark invokes: an aws-lambda-go handler that returns
// its event unchanged. It does no work of its own, so a benchmark measures the path an invoke
// takes through the server, not the function.
//
// The bench builds it with CGO_ENABLED=0 into a temporary directory as `bootstrap`, the file a
// provided.al2023 function runs.
package main

import (
	"context"
	"encoding/json"

	"github.com/aws/aws-lambda-go/lambda"
)

// echo returns the event it was given.
func echo(_ context.Context, event json.RawMessage) (json.RawMessage, error) {
	return event, nil
}

func main() {
	lambda.Start(echo)
}
