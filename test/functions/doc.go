// Package functions holds the Lambda functions the end-to-end tests deploy, one command per
// directory, each written with aws-lambda-go exactly as a user would write one and built as
// a static linux `bootstrap` for the provided.al2023 runtime.
package functions
