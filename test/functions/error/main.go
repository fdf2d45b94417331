// Command error returns a custom Go error, which Lambda reports as an Unhandled function error
// with the error's type name and message.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"
)

// TeapotError is the custom error the function returns.
type TeapotError struct {
	Reason string
}

func (e *TeapotError) Error() string { return "I'm a teapot: " + e.Reason }

func main() {
	lambda.Start(func(context.Context) (string, error) {
		return "", &TeapotError{Reason: "short and stout"}
	})
}
