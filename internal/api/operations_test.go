package api_test

import (
	"net/http"
	"strings"
	"testing"
)

const (
	fnARN0  = "arn:aws:lambda:us-east-1:000000000000:function:"
	namePat = `(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\d{1}:)?(\d{12}:)?(function:)?([a-zA-Z0-9-_]+)(:(\$LATEST|[a-zA-Z0-9-_]+))?`
	readPat = `(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\d{1}:)?(\d{12}:)?(function:)?([a-zA-Z0-9-_\.]+)(:(\$LATEST|[a-zA-Z0-9-_]+))?`
)

// TestEveryOperationAnswersBadRequestsAsAWSDoes is the table of request → status, error code
// and message, for every operation the API serves: the model's constraints
// (ValidationException), Lambda's own checks, and what is not found, each as AWS answers it.
func TestEveryOperationAnswersBadRequestsAsAWSDoes(t *testing.T) {
	fx := layersFixture(t)
	fx.invoker.functions = fx.registry
	fx.create(t, "fn")
	role := `"Role":"arn:aws:iam::000000000000:role/r"`
	cases := []struct {
		name, method, path, body string
		header                   map[string]string
		status                   int
		code, message            string
	}{
		// Invoke
		{"Invoke of a missing function names its $LATEST", "POST", "/2015-03-31/functions/missing/invocations", "{}", nil,
			404, "ResourceNotFoundException", "Function not found: " + fnARN0 + "missing:$LATEST"},
		{"Invoke of a missing version names it", "POST", "/2015-03-31/functions/fn/invocations?Qualifier=7", "{}", nil,
			404, "ResourceNotFoundException", "Function not found: " + fnARN0 + "fn:7"},
		{"Invoke of a dotted name is not found, as the read pattern admits it", "POST", "/2015-03-31/functions/my.fn/invocations", "{}", nil,
			404, "ResourceNotFoundException", "Function not found: " + fnARN0 + "my.fn:$LATEST"},
		{"Invoke of a name with a space breaks the pattern", "POST", "/2015-03-31/functions/bad%20name/invocations", "{}", nil,
			400, "ValidationException", "1 validation error detected: Value 'bad name' at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern: " + readPat},
		{"Invoke with an unknown invocation type", "POST", "/2015-03-31/functions/fn/invocations", "{}", map[string]string{"X-Amz-Invocation-Type": "Later"},
			400, "ValidationException", "1 validation error detected: Value 'Later' at 'invocationType' failed to satisfy constraint: Member must satisfy enum value set: [Event, RequestResponse, DryRun]"},
		{"Invoke with an unknown log type", "POST", "/2015-03-31/functions/fn/invocations", "{}", map[string]string{"X-Amz-Log-Type": "All"},
			400, "ValidationException", "1 validation error detected: Value 'All' at 'logType' failed to satisfy constraint: Member must satisfy enum value set: [None, Tail]"},
		{"Invoke of a function in another region", "POST", "/2015-03-31/functions/arn:aws:lambda:eu-west-1:000000000000:function:fn/invocations", "{}", nil,
			400, "InvalidParameterValueException", "Functions from 'eu-west-1' are not reachable in this region ('us-east-1')"},
		{"Invoke of a function in another account", "POST", "/2015-03-31/functions/arn:aws:lambda:us-east-1:111111111111:function:fn/invocations", "{}", nil,
			403, "AccessDeniedException", "User: arn:aws:iam::000000000000:root is not authorized to perform: lambda:InvokeFunction on resource: " +
				"arn:aws:lambda:us-east-1:111111111111:function:fn because no resource-based policy allows the lambda:InvokeFunction action"},
		// CreateFunction
		{"CreateFunction without its required members", "POST", "/2015-03-31/functions", `{}`, nil,
			400, "ValidationException", "3 validation errors detected: Value null at 'functionName' failed to satisfy constraint: Member must not be null; " +
				"Value null at 'role' failed to satisfy constraint: Member must not be null; Value null at 'code' failed to satisfy constraint: Member must not be null"},
		{"CreateFunction with a name over 64 characters is Lambda's own check", "POST", "/2015-03-31/functions",
			`{"FunctionName":"` + strings.Repeat("a", 65) + `",` + role + `,"Runtime":"provided.al2023","Handler":"h","Code":{"ZipFile":"UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA=="}}`, nil,
			400, "InvalidParameterValueException", "1 validation error detected: Value '" + strings.Repeat("a", 65) + "' at 'functionName' failed to satisfy constraint: Member must have length less than or equal to 64"},
		{"CreateFunction with a retired runtime", "POST", "/2015-03-31/functions",
			`{"FunctionName":"old",` + role + `,"Runtime":"python3.7","Handler":"h","Code":{"ZipFile":"UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA=="}}`, nil,
			400, "InvalidParameterValueException", "The runtime parameter of python3.7 is no longer supported for creating or updating AWS Lambda functions. " +
				"We recommend you use the new runtime (python3.13) while creating or updating functions."},
		{"CreateFunction of a name that exists", "POST", "/2015-03-31/functions",
			`{"FunctionName":"fn",` + role + `,"Runtime":"provided.al2023","Handler":"h","Code":{"ZipFile":"UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA=="}}`, nil,
			409, "ResourceConflictException", "Function already exist: fn"},
		{"CreateFunction whose body is not JSON", "POST", "/2015-03-31/functions", `{"FunctionName":`, nil,
			400, "InvalidRequestContentException", ""},
		// ListFunctions
		{"ListFunctions with MaxItems over 10000", "GET", "/2015-03-31/functions/?MaxItems=10001", "", nil,
			400, "ValidationException", "1 validation error detected: Value '10001' at 'maxItems' failed to satisfy constraint: Member must have value less than or equal to 10000"},
		// GetFunction, GetFunctionConfiguration, DeleteFunction
		{"GetFunction of a missing function", "GET", "/2015-03-31/functions/missing", "", nil,
			404, "ResourceNotFoundException", "Function not found: " + fnARN0 + "missing"},
		{"GetFunction of a name no function can have is not found", "GET", "/2015-03-31/functions/my.fn", "", nil,
			404, "ResourceNotFoundException", "Function not found: " + fnARN0 + "my.fn"},
		{"GetFunction of a missing version", "GET", "/2015-03-31/functions/fn?Qualifier=9", "", nil,
			404, "ResourceNotFoundException", "Function not found: " + fnARN0 + "fn:9"},
		{"GetFunction with a qualifier breaking the pattern", "GET", "/2015-03-31/functions/fn?Qualifier=a%20b", "", nil,
			400, "ValidationException", "1 validation error detected: Value 'a b' at 'qualifier' failed to satisfy constraint: Member must satisfy regular expression pattern: (|[a-zA-Z0-9$_-]+)"},
		{"GetFunctionConfiguration in another account", "GET", "/2015-03-31/functions/111111111111:function:fn/configuration", "", nil,
			403, "AccessDeniedException", "User: arn:aws:iam::000000000000:root is not authorized to perform: lambda:GetFunctionConfiguration on resource: " +
				"arn:aws:lambda:us-east-1:111111111111:function:fn because no resource-based policy allows the lambda:GetFunctionConfiguration action"},
		{"DeleteFunction of a missing function is not found, not idempotent", "DELETE", "/2015-03-31/functions/missing", "", nil,
			404, "ResourceNotFoundException", "Function not found: " + fnARN0 + "missing"},
		{"DeleteFunction with a dotted name breaks the write pattern", "DELETE", "/2015-03-31/functions/my.fn", "", nil,
			400, "ValidationException", "1 validation error detected: Value 'my.fn' at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern: " + namePat},
		// UpdateFunctionConfiguration, UpdateFunctionCode
		{"UpdateFunctionConfiguration out of two ranges counts two errors", "PUT", "/2015-03-31/functions/fn/configuration", `{"Timeout":0,"MemorySize":20000}`, nil,
			400, "ValidationException", "2 validation errors detected: Value '0' at 'timeout' failed to satisfy constraint: Member must have value greater than or equal to 1; " +
				"Value '20000' at 'memorySize' failed to satisfy constraint: Member must have value less than or equal to 10240"},
		{"UpdateFunctionConfiguration with a timeout over 900 is Lambda's own check", "PUT", "/2015-03-31/functions/fn/configuration", `{"Timeout":901}`, nil,
			400, "InvalidParameterValueException", "1 validation error detected: Value '901' at 'timeout' failed to satisfy constraint: Member must have value less than or equal to 900"},
		{"UpdateFunctionConfiguration of a missing function", "PUT", "/2015-03-31/functions/missing/configuration", `{"Timeout":5}`, nil,
			404, "ResourceNotFoundException", "Function not found: " + fnARN0 + "missing"},
		{"UpdateFunctionCode with an unknown architecture", "PUT", "/2015-03-31/functions/fn/code", `{"Architectures":["sparc"]}`, nil,
			400, "ValidationException", "1 validation error detected: Value '[sparc]' at 'architectures' failed to satisfy constraint: " +
				"Member must satisfy constraint: [Member must satisfy enum value set: [x86_64, arm64], Member must not be null]"},
		// Versions and aliases
		{"PublishVersion of a missing function", "POST", "/2015-03-31/functions/missing/versions", `{}`, nil,
			404, "ResourceNotFoundException", "Function not found: " + fnARN0 + "missing"},
		{"ListVersionsByFunction with MaxItems 0", "GET", "/2015-03-31/functions/fn/versions?MaxItems=0", "", nil,
			400, "ValidationException", "1 validation error detected: Value '0' at 'maxItems' failed to satisfy constraint: Member must have value greater than or equal to 1"},
		{"CreateAlias with a numeric name and a bad version", "POST", "/2015-03-31/functions/fn/aliases", `{"Name":"1","FunctionVersion":"x"}`, nil,
			400, "ValidationException", "2 validation errors detected: Value '1' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: (?!^[0-9]+$)([a-zA-Z0-9-_]+); " +
				"Value 'x' at 'functionVersion' failed to satisfy constraint: Member must satisfy regular expression pattern: (\\$LATEST|[0-9]+)"},
		{"GetAlias of a missing alias", "GET", "/2015-03-31/functions/fn/aliases/nope", "", nil,
			404, "ResourceNotFoundException", "Alias not found: " + fnARN0 + "fn:nope"},
		{"UpdateAlias with a weight over 1", "PUT", "/2015-03-31/functions/fn/aliases/live", `{"RoutingConfig":{"AdditionalVersionWeights":{"2":1.5}}}`, nil,
			400, "ValidationException", "1 validation error detected: Value '{2=1.5}' at 'routingConfig.additionalVersionWeights' failed to satisfy constraint: " +
				"Map value must satisfy constraint: [Member must have value less than or equal to 1.0, Member must have value greater than or equal to 0.0, Member must not be null]"},
		{"ListAliases with MaxItems over 10000", "GET", "/2015-03-31/functions/fn/aliases?MaxItems=10001", "", nil,
			400, "ValidationException", "1 validation error detected: Value '10001' at 'maxItems' failed to satisfy constraint: Member must have value less than or equal to 10000"},
		{"DeleteAlias with a name over 128 characters", "DELETE", "/2015-03-31/functions/fn/aliases/" + strings.Repeat("a", 129), "", nil,
			400, "ValidationException", "1 validation error detected: Value '" + strings.Repeat("a", 129) + "' at 'name' failed to satisfy constraint: Member must have length less than or equal to 128"},
		// Policies
		{"AddPermission without action and principal", "POST", "/2015-03-31/functions/fn/policy", `{"StatementId":"s"}`, nil,
			400, "ValidationException", "2 validation errors detected: Value null at 'action' failed to satisfy constraint: Member must not be null; " +
				"Value null at 'principal' failed to satisfy constraint: Member must not be null"},
		{"GetPolicy of a function without one", "GET", "/2015-03-31/functions/fn/policy", "", nil,
			404, "ResourceNotFoundException", "The resource you requested does not exist."},
		{"RemovePermission of a missing statement", "DELETE", "/2015-03-31/functions/fn/policy/nope", "", nil,
			404, "ResourceNotFoundException", "Statement nope is not found in resource policy."},
		{"RemovePermission with a statement id breaking the pattern", "DELETE", "/2015-03-31/functions/fn/policy/a%20b", "", nil,
			400, "ValidationException", "1 validation error detected: Value 'a b' at 'statementId' failed to satisfy constraint: Member must satisfy regular expression pattern: ([a-zA-Z0-9-_.]+)"},
		// Runtime management
		{"GetRuntimeManagementConfig of a missing function", "GET", "/2021-07-20/functions/missing/runtime-management-config", "", nil,
			404, "ResourceNotFoundException", "Function not found: " + fnARN0 + "missing"},
		{"PutRuntimeManagementConfig without a mode", "PUT", "/2021-07-20/functions/fn/runtime-management-config", `{}`, nil,
			400, "ValidationException", "1 validation error detected: Value null at 'updateRuntimeOn' failed to satisfy constraint: Member must not be null"},
		// Tags
		{"TagResource of a missing function", "POST", "/2017-03-31/tags/" + fnARN0 + "missing", `{"Tags":{"a":"b"}}`, nil,
			404, "ResourceNotFoundException", "Function not found: " + fnARN0 + "missing"},
		{"UntagResource without keys", "DELETE", "/2017-03-31/tags/" + fnARN0 + "fn", "", nil,
			400, "ValidationException", "1 validation error detected: Value null at 'tagKeys' failed to satisfy constraint: Member must not be null"},
		{"ListTags of a bare name", "GET", "/2017-03-31/tags/fn", "", nil,
			400, "ValidationException", "1 validation error detected: Value 'fn' at 'resource' failed to satisfy constraint: Member must satisfy regular expression pattern: " +
				`arn:(aws[a-zA-Z-]*)?:lambda:[a-z]{2}(-gov)?-[a-z]+-\d{1}:\d{12}:function:[a-zA-Z0-9-_]+(:(\$LATEST|[a-zA-Z0-9-_]+))?`},
		// Layers
		{"PublishLayerVersion with a bad name and no content", "POST", "/2018-10-31/layers/bad%20name/versions", `{}`, nil,
			400, "ValidationException", "2 validation errors detected: Value 'bad name' at 'layerName' failed to satisfy constraint: Member must satisfy regular expression pattern: " +
				"(arn:[a-zA-Z0-9-]+:lambda:[a-zA-Z0-9-]+:\\d{12}:layer:[a-zA-Z0-9-_]+)|[a-zA-Z0-9-_]+; Value null at 'content' failed to satisfy constraint: Member must not be null"},
		{"ListLayerVersions with MaxItems 0", "GET", "/2018-10-31/layers/l/versions?MaxItems=0", "", nil,
			400, "ValidationException", "1 validation error detected: Value '0' at 'maxItems' failed to satisfy constraint: Member must have value greater than or equal to 1"},
		{"GetLayerVersion of a missing version", "GET", "/2018-10-31/layers/l/versions/1", "", nil,
			404, "ResourceNotFoundException", "The resource you requested does not exist."},
		{"ListLayers with an unknown architecture", "GET", "/2018-10-31/layers?CompatibleArchitecture=sparc", "", nil,
			400, "ValidationException", "1 validation error detected: Value 'sparc' at 'compatibleArchitecture' failed to satisfy constraint: Member must satisfy enum value set: [x86_64, arm64]"},
		{"GetLayerVersionByArn without a version", "GET", "/2018-10-31/layers?find=LayerVersion&Arn=arn:aws:lambda:us-east-1:000000000000:layer:l", "", nil,
			400, "ValidationException", "1 validation error detected: Value 'arn:aws:lambda:us-east-1:000000000000:layer:l' at 'arn' failed to satisfy constraint: " +
				"Member must satisfy regular expression pattern: arn:[a-zA-Z0-9-]+:lambda:[a-zA-Z0-9-]+:\\d{12}:layer:[a-zA-Z0-9-_]+:[0-9]+"},
		// Event invoke configs: the model's ranges are checked before the asynchronous path is.
		{"PutFunctionEventInvokeConfig with too many retries", "PUT", "/2019-09-25/functions/fn/event-invoke-config", `{"MaximumRetryAttempts":5}`, nil,
			400, "ValidationException", "1 validation error detected: Value '5' at 'maximumRetryAttempts' failed to satisfy constraint: Member must have value less than or equal to 2"},
		{"UpdateFunctionEventInvokeConfig with too short an age", "POST", "/2019-09-25/functions/fn/event-invoke-config", `{"MaximumEventAgeInSeconds":10}`, nil,
			400, "ValidationException", "1 validation error detected: Value '10' at 'maximumEventAgeInSeconds' failed to satisfy constraint: Member must have value greater than or equal to 60"},
		{"GetFunctionEventInvokeConfig with a bad name", "GET", "/2019-09-25/functions/bad%20name/event-invoke-config", "", nil,
			400, "ValidationException", "1 validation error detected: Value 'bad name' at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern: " + namePat},
		{"DeleteFunctionEventInvokeConfig with a bad name", "DELETE", "/2019-09-25/functions/bad%20name/event-invoke-config", "", nil,
			400, "ValidationException", "1 validation error detected: Value 'bad name' at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern: " + namePat},
		{"ListFunctionEventInvokeConfigs with MaxItems over 50", "GET", "/2019-09-25/functions/fn/event-invoke-config/list?MaxItems=51", "", nil,
			400, "ValidationException", "1 validation error detected: Value '51' at 'maxItems' failed to satisfy constraint: Member must have value less than or equal to 50"},
		// What is not an operation
		{"an unknown path", "GET", "/2015-03-31/functions/fn/nothing", "", nil,
			404, "UnknownOperationException", "The requested operation is not supported by this server: GET /2015-03-31/functions/fn/nothing"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := fx.do(t, tc.method, tc.path, []byte(tc.body), tc.header)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			typ, msg := wireError(t, rec)
			if typ != tc.code || tc.message != "" && msg != tc.message {
				t.Fatalf("got %s %q\nwant %s %q", typ, msg, tc.code, tc.message)
			}
		})
	}
	if _, ok := fx.registry.Lookup("old"); ok {
		t.Error("a refused create stored a function")
	}
}

// TestListFunctionsLeavesOutWhatLambdaLeavesOut checks ListFunctions' subset of each
// configuration (no state or last-update members) beside GetFunctionConfiguration's whole one,
// and that an empty listing is [].
func TestListFunctionsLeavesOutWhatLambdaLeavesOut(t *testing.T) {
	fx := newFixture(t)
	rec := fx.do(t, "GET", "/2015-03-31/functions/", nil, nil)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"Functions":[]`) {
		t.Fatalf("empty listing: %d %s", rec.Code, rec.Body)
	}
	fx.create(t, "fn")
	got := fx.do(t, "GET", "/2015-03-31/functions/fn/configuration", nil, nil).Body.String()
	for _, member := range []string{`"State":`, `"LastUpdateStatus":`} {
		if !strings.Contains(got, member) {
			t.Errorf("GetFunctionConfiguration lacks %s: %s", member, got)
		}
	}
	list := fx.do(t, "GET", "/2015-03-31/functions/", nil, nil).Body.String()
	if !strings.Contains(list, `"FunctionName":"fn"`) {
		t.Fatalf("listing: %s", list)
	}
	for _, member := range []string{`"State"`, `"StateReason"`, `"LastUpdateStatus"`, `"RuntimeVersionConfig"`} {
		if strings.Contains(list, member) {
			t.Errorf("ListFunctions carries %s, which Lambda leaves out: %s", member, list)
		}
	}
}
