// Command oom allocates and touches the event's "mb" megabytes, which tests set past the
// function's MemorySize.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"
)

// Event says how much to allocate.
type Event struct {
	MB int `json:"mb"`
}

var hold [][]byte

func main() {
	lambda.Start(func(_ context.Context, ev Event) (int, error) {
		for range ev.MB {
			b := make([]byte, 1<<20)
			for i := range b {
				b[i] = 1
			}
			hold = append(hold, b)
		}
		return len(hold), nil
	})
}
