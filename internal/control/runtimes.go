package control

import (
	"errors"

	"github.com/ember-serverless/ember/internal/lambdaerr"
	"github.com/ember-serverless/ember/internal/runtimes"
)

// deprecatedRuntimes are runtimes Lambda no longer accepts for creating or updating functions,
// with the runtime Lambda recommends instead. Some of them (provided, nodejs18.x, python3.9)
// this server still runs, for functions created before they were retired, as Lambda still
// invokes such functions.
var deprecatedRuntimes = map[string]string{
	"provided": "provided.al2023", "nodejs18.x": "nodejs22.x", "python3.9": "python3.13",
	"nodejs": "nodejs22.x", "nodejs4.3": "nodejs22.x", "nodejs4.3-edge": "nodejs22.x",
	"nodejs6.10": "nodejs22.x", "nodejs8.10": "nodejs22.x", "nodejs10.x": "nodejs22.x",
	"nodejs12.x": "nodejs22.x", "nodejs14.x": "nodejs22.x", "nodejs16.x": "nodejs22.x",
	"python2.7": "python3.13", "python3.6": "python3.13", "python3.7": "python3.13", "python3.8": "python3.13",
	"java8":         "java21",
	"dotnetcore1.0": "dotnet8", "dotnetcore2.0": "dotnet8", "dotnetcore2.1": "dotnet8", "dotnetcore3.1": "dotnet8",
	"dotnet6": "dotnet8",
	"ruby2.5": "ruby3.3",
	"ruby2.7": "ruby3.3",
	"go1.x":   "provided.al2023",
}

// runtimeEnum is the Runtime enum of the Lambda API model, in the model's order, for the
// message Lambda gives for a value outside it.
const runtimeEnum = "nodejs, nodejs4.3, nodejs6.10, nodejs8.10, nodejs10.x, nodejs12.x, nodejs14.x, nodejs16.x, " +
	"java8, java8.al2, java11, python2.7, python3.6, python3.7, python3.8, python3.9, dotnetcore1.0, " +
	"dotnetcore2.0, dotnetcore2.1, dotnetcore3.1, dotnet6, dotnet8, nodejs4.3-edge, go1.x, ruby2.5, ruby2.7, " +
	"provided, provided.al2, nodejs18.x, python3.10, java17, ruby3.2, ruby3.3, ruby3.4, python3.11, " +
	"nodejs20.x, provided.al2023, python3.12, java21, python3.13, nodejs22.x, nodejs24.x, python3.14, " +
	"java25, dotnet10"

// RuntimeTable says which runtimes this server runs and how: *runtimes.Table, detected once by
// the server and handed to the registry and the resolver.
type RuntimeTable interface {
	Lookup(name string) (runtimes.Runtime, error)
}

var _ RuntimeTable = (*runtimes.Table)(nil)

// validateRuntime checks a Runtime member as Lambda does, and that this server can run it.
func validateRuntime(rt string, table RuntimeTable) error {
	if next, ok := deprecatedRuntimes[rt]; ok {
		return lambdaerr.InvalidParameter("The runtime parameter of %s is no longer supported for creating or updating AWS Lambda functions. "+
			"We recommend you use the new runtime (%s) while creating or updating functions.", rt, next)
	}
	_, err := table.Lookup(rt)
	if err == nil {
		return nil
	}
	var ue *runtimes.UnavailableError
	if errors.As(err, &ue) {
		return lambdaerr.InvalidParameter("%s", ue.Message)
	}
	return lambdaerr.InvalidParameter("Value %s at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: [%s] or be a valid ARN",
		rt, runtimeEnum)
}
