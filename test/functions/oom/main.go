// Command oom allocates and touches the event's "mb" megabytes, which tests set past the
// function's MemorySize. It writes one byte a page: that is enough to make the kernel back the
// page, and it keeps the CPU the function needs small, because at 128 MB a function gets about
// 7 % of a CPU (as on Lambda) and writing every byte of 128 MB would take it seconds.
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
			for i := 0; i < len(b); i += 4096 {
				b[i] = 1
			}
			hold = append(hold, b)
		}
		return len(hold), nil
	})
}
