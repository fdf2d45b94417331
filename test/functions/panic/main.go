// Command panic panics in its handler.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	lambda.Start(func(context.Context) (string, error) {
		panic("the handler panicked on purpose")
	})
}
