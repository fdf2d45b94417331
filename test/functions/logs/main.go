// Command logs prints the event's "lines" lines of "width" characters each to stdout, then
// returns how many it printed.
package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-lambda-go/lambda"
)

// Event says how much to log.
type Event struct {
	Lines int `json:"lines"`
	Width int `json:"width"`
}

func main() {
	lambda.Start(func(_ context.Context, ev Event) (int, error) {
		pad := strings.Repeat("x", max(ev.Width, 0))
		for i := range ev.Lines {
			fmt.Printf("log line %d %s\n", i, pad)
		}
		return ev.Lines, nil
	})
}
