// Package functions holds the Lambda functions the end-to-end tests deploy, one per directory,
// each written exactly as a user would write one: Go commands with aws-lambda-go, built as a
// static linux `bootstrap` for provided.al2023, and under nodejs/ and python/ handlers for the
// managed runtimes.
package functions
