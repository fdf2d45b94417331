// Command exit exits the process in the middle of an invoke when the event says so
// ({"exit": true}); otherwise it returns "alive".
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
)

// Event says whether to exit.
type Event struct {
	Exit bool `json:"exit"`
}

func main() {
	lambda.Start(func(_ context.Context, ev Event) (string, error) {
		if ev.Exit {
			fmt.Println("exiting mid-invoke")
			os.Exit(1)
		}
		return "alive", nil
	})
}
