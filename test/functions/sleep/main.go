// Command sleep sleeps for the event's "ms" milliseconds, then returns "slept"; tests use it to
// run past a function's timeout.
package main

import (
	"context"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
)

// Event says how long to sleep.
type Event struct {
	MS int `json:"ms"`
}

func main() {
	lambda.Start(func(_ context.Context, ev Event) (string, error) {
		time.Sleep(time.Duration(ev.MS) * time.Millisecond)
		return "slept", nil
	})
}
