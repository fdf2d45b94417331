package api

import (
	"testing"

	"github.com/ember-serverless/ember/internal/apimodel"
)

// emberOperations are the routes that are not operations of the Lambda API model, and so are
// not checked against it: Ember's own (the async queue, signed code downloads, the fallback), and
// Invoke, whose members decodeInvoke checks itself on the hot path (its op is the IAM action's
// name, InvokeFunction, which access-denied messages print).
var emberOperations = map[string]bool{
	"InvokeFunction": true, "GetFunctionAsyncQueue": true, "GetFunctionCode": true, "GetLayerCode": true, "Unknown": true,
}

// TestEveryRouteIsAnOperationOfTheModel makes sure each route's op is spelled as in the model,
// since that name is what has its request checked against the model's constraints: a new
// operation plugs in by its route alone.
func TestEveryRouteIsAnOperationOfTheModel(t *testing.T) {
	for _, rt := range routeTable {
		if !emberOperations[rt.op] && !apimodel.Known(rt.op) {
			t.Errorf("route %q: op %q is not an operation of the Lambda API model", rt.pattern, rt.op)
		}
	}
}
