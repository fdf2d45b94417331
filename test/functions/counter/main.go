// Command counter returns how many times this process has been invoked: a warm sandbox counts
// up, a cold one starts again at 1.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"
)

var invocations int

func main() {
	lambda.Start(func(context.Context) (int, error) {
		invocations++
		return invocations, nil
	})
}
