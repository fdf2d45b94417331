package server

import (
	"github.com/ember-serverless/ember/internal/async"
	"github.com/ember-serverless/ember/internal/control"
)

// asyncFunctions is what the asynchronous path needs of the function registry.
type asyncFunctions struct{ r *control.Registry }

var _ async.Functions = asyncFunctions{}

// Function resolves an invoke's function to its bare name, or the registry's
// ResourceNotFoundException.
func (a asyncFunctions) Function(nameOrARN, qualifier string) (string, error) {
	f, err := a.r.Resolve(nameOrARN, qualifier)
	if err != nil {
		return "", err
	}
	return f.Config.FunctionName, nil
}

// DeadLetterTarget is the function's DeadLetterConfig.TargetArn.
func (a asyncFunctions) DeadLetterTarget(function string) string {
	f, ok := a.r.Lookup(function)
	if !ok || f.Config.DeadLetterConfig == nil {
		return ""
	}
	return f.Config.DeadLetterConfig.TargetArn
}
