package apimodel

import (
	"bytes"
	"errors"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ember-serverless/ember/internal/lambdaerr"
)

const namespacedPattern = `(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\d{1}:)?(\d{12}:)?(function:)?([a-zA-Z0-9-_\.]+)(:(\$LATEST|[a-zA-Z0-9-_]+))?`

func TestValidateAnswersAsAWSDoes(t *testing.T) {
	cases := []struct {
		name, op, method, target, body string
		header                         map[string]string
		want                           string // "" for no error
	}{
		{"a good read passes", "GetFunction", "GET", "/2015-03-31/functions/fn?Qualifier=%24LATEST", "", nil, ""},
		{"a dotted name passes the read's pattern (and is then not found)", "GetFunction", "GET", "/2015-03-31/functions/my.fn", "", nil, ""},
		{"a name with a space breaks the pattern", "GetFunction", "GET", "/2015-03-31/functions/bad%20name", "", nil,
			"1 validation error detected: Value 'bad name' at 'functionName' failed to satisfy constraint: " +
				"Member must satisfy regular expression pattern: " + namespacedPattern},
		{"a name too long and of bad characters counts two errors", "GetFunction", "GET", "/2015-03-31/functions/" + strings.Repeat("%21", 171), "", nil,
			"2 validation errors detected: Value '" + strings.Repeat("!", 171) + "' at 'functionName' failed to satisfy constraint: " +
				"Member must have length less than or equal to 170; Value '" + strings.Repeat("!", 171) + "' at 'functionName' failed to satisfy constraint: " +
				"Member must satisfy regular expression pattern: " + namespacedPattern},
		{"a query member out of range", "ListFunctions", "GET", "/2015-03-31/functions/?MaxItems=0", "", nil,
			"1 validation error detected: Value '0' at 'maxItems' failed to satisfy constraint: Member must have value greater than or equal to 1"},
		{"a query member outside its enum", "ListFunctions", "GET", "/2015-03-31/functions/?FunctionVersion=SOME", "", nil,
			"1 validation error detected: Value 'SOME' at 'functionVersion' failed to satisfy constraint: Member must satisfy enum value set: [ALL]"},
		{"a malformed number is left to the handler", "ListFunctions", "GET", "/2015-03-31/functions/?MaxItems=lots", "", nil, ""},
		{"missing required body members are null, in the model's order", "CreateFunction", "POST", "/2015-03-31/functions", `{"Runtime":"provided.al2023"}`, nil,
			"3 validation errors detected: Value null at 'functionName' failed to satisfy constraint: Member must not be null; " +
				"Value null at 'role' failed to satisfy constraint: Member must not be null; " +
				"Value null at 'code' failed to satisfy constraint: Member must not be null"},
		{"body members break range and nested constraints", "CreateFunction", "POST", "/2015-03-31/functions",
			`{"FunctionName":"fn","Role":"arn:aws:iam::000000000000:role/r","Code":{},"MemorySize":64,"EphemeralStorage":{"Size":100000},"TracingConfig":{"Mode":"Sometimes"}}`, nil,
			"3 validation errors detected: Value '64' at 'memorySize' failed to satisfy constraint: Member must have value greater than or equal to 128; " +
				"Value 'Sometimes' at 'tracingConfig.mode' failed to satisfy constraint: Member must satisfy enum value set: [Active, PassThrough]; " +
				"Value '100000' at 'ephemeralStorage.size' failed to satisfy constraint: Member must have value less than or equal to 10240"},
		{"a required nested member is null", "CreateFunction", "POST", "/2015-03-31/functions",
			`{"FunctionName":"fn","Role":"arn:aws:iam::000000000000:role/r","Code":{},"EphemeralStorage":{}}`, nil,
			"1 validation error detected: Value null at 'ephemeralStorage.size' failed to satisfy constraint: Member must not be null"},
		{"a runtime is Lambda's to check, not the model's", "CreateFunction", "POST", "/2015-03-31/functions",
			`{"FunctionName":"fn","Role":"arn:aws:iam::000000000000:role/r","Code":{},"Runtime":"python3.14"}`, nil, ""},
		{"a list member's constraints are listed whole", "CreateFunction", "POST", "/2015-03-31/functions",
			`{"FunctionName":"fn","Role":"arn:aws:iam::000000000000:role/r","Code":{},"Architectures":["sparc"]}`, nil,
			"1 validation error detected: Value '[sparc]' at 'architectures' failed to satisfy constraint: " +
				"Member must satisfy constraint: [Member must satisfy enum value set: [x86_64, arm64], Member must not be null]"},
		{"a list's length is checked", "CreateFunction", "POST", "/2015-03-31/functions",
			`{"FunctionName":"fn","Role":"arn:aws:iam::000000000000:role/r","Code":{},"Architectures":[]}`, nil,
			"1 validation error detected: Value '[]' at 'architectures' failed to satisfy constraint: Member must have length greater than or equal to 1"},
		{"a sensitive map's keys are checked without printing it", "CreateFunction", "POST", "/2015-03-31/functions",
			`{"FunctionName":"fn","Role":"arn:aws:iam::000000000000:role/r","Code":{},"Environment":{"Variables":{"1A":"secret"}}}`, nil,
			"1 validation error detected: Value at 'environment.variables' failed to satisfy constraint: " +
				"Map keys must satisfy constraint: [Member must satisfy regular expression pattern: [a-zA-Z]([a-zA-Z0-9_])+, Member must not be null]"},
		{"a body that is not JSON is left to the handler", "CreateFunction", "POST", "/2015-03-31/functions", `{"FunctionName":`, nil, ""},
		{"a member of the wrong JSON type is left to the handler", "CreateFunction", "POST", "/2015-03-31/functions",
			`{"FunctionName":"fn","Role":"arn:aws:iam::000000000000:role/r","Code":{},"MemorySize":"big"}`, nil, ""},
		{"an alias name of digits only breaks the lookahead", "CreateAlias", "POST", "/2015-03-31/functions/fn/aliases",
			`{"Name":"123","FunctionVersion":"1"}`, nil,
			"1 validation error detected: Value '123' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: (?!^[0-9]+$)([a-zA-Z0-9-_]+)"},
		{"a map's number values are checked against their range", "CreateAlias", "POST", "/2015-03-31/functions/fn/aliases",
			`{"Name":"live","FunctionVersion":"1","RoutingConfig":{"AdditionalVersionWeights":{"2":1.5}}}`, nil,
			"1 validation error detected: Value '{2=1.5}' at 'routingConfig.additionalVersionWeights' failed to satisfy constraint: " +
				"Map value must satisfy constraint: [Member must have value less than or equal to 1.0, Member must have value greater than or equal to 0.0, Member must not be null]"},
		{"an alias name with letters passes", "CreateAlias", "POST", "/2015-03-31/functions/fn/aliases", `{"Name":"live","FunctionVersion":"1"}`, nil, ""},
		{"a header member outside its enum", "Invoke", "POST", "/2015-03-31/functions/fn/invocations", `not json at all`,
			map[string]string{"X-Amz-Log-Type": "Everything"},
			"1 validation error detected: Value 'Everything' at 'logType' failed to satisfy constraint: Member must satisfy enum value set: [None, Tail]"},
		{"an invoke's payload is not looked into", "Invoke", "POST", "/2015-03-31/functions/fn/invocations", `{"FunctionName":1}`, nil, ""},
		{"an operation the model lacks is not checked", "GetFunctionAsyncQueue", "GET", "/ember/functions/bad%20name/async-queue", "", nil, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, tc.target, nil)
			for k, v := range tc.header {
				r.Header.Set(k, v)
			}
			err := Validate(tc.op, r, []byte(tc.body))
			if tc.want == "" {
				if err != nil {
					t.Fatalf("got %v, want no error", err)
				}
				return
			}
			var le *lambdaerr.Error
			if !errors.As(err, &le) || le.Type != lambdaerr.Validation || le.HTTPStatus() != 400 {
				t.Fatalf("got %v, want a 400 ValidationException", err)
			}
			if le.Message != tc.want {
				t.Fatalf("message\n got %s\nwant %s", le.Message, tc.want)
			}
		})
	}
}

func TestTheModelCoversEveryOperationWithCompiledPatterns(t *testing.T) {
	if n := len(Operations()); n != 65 {
		t.Errorf("%d operations, want the model's 65", n)
	}
	for name, s := range model.Shapes {
		if s.Pattern != "" && s.re == nil {
			t.Errorf("shape %s: pattern %q not compiled", name, s.Pattern)
		}
	}
}

// TestTheEmbeddedModelIsWhatGenMakes checks lambda.json against botocore's model as installed
// with the AWS CLI, so that a hand edit or a stale copy is caught.
func TestTheEmbeddedModelIsWhatGenMakes(t *testing.T) {
	src := "/usr/lib/python3/dist-packages/awscli/botocore/data/lambda/2015-03-31/service-2.json"
	if _, err := os.Stat(src); err != nil {
		t.Skip("needs botocore's Lambda model, installed with the AWS CLI v2 (scripts/setup): " + err.Error())
	}
	out := filepath.Join(t.TempDir(), "lambda.json")
	cmd := exec.Command("go", "run", "./gen", "-model", src, "-o", out)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("gen: %v\n%s", err, msg)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, modelJSON) {
		t.Fatal("lambda.json differs from what gen makes from the installed model: run go generate ./internal/apimodel")
	}
}

// countRE is the head of AWS's message: "1 validation error detected: " or "N validation errors
// detected: " for N > 1.
var countRE = regexp.MustCompile(`^([1-9][0-9]*) validation error(s?) detected: Value `)

// FuzzValidate checks Validate on any operation, path, query, header and body: it never
// panics, and what it refuses is a ValidationException headed as AWS heads it.
func FuzzValidate(f *testing.F) {
	f.Add("CreateFunction", "/2015-03-31/functions", "", "", []byte(`{"FunctionName":"a b","MemorySize":1,"Architectures":["x"],"Environment":{"Variables":{"1":"x"}}}`))
	f.Add("GetFunction", "/2015-03-31/functions/fn", "Qualifier=%20", "", []byte(nil))
	f.Add("Invoke", "/2015-03-31/functions/fn/invocations", "", "Tail", []byte(`{}`))
	f.Add("CreateAlias", "/2015-03-31/functions/fn/aliases", "", "", []byte(`{"Name":"1","RoutingConfig":{"AdditionalVersionWeights":{"a":2}}}`))
	f.Add("ListFunctions", "/2015-03-31/functions/", "MaxItems=0&FunctionVersion=x&MasterRegion=y", "", []byte(nil))
	f.Add("TagResource", "/2017-03-31/tags/x", "", "", []byte(`{"Tags":{"":""}}`))
	ops := Operations()
	f.Fuzz(func(t *testing.T, op, path, query, logType string, body []byte) {
		if !Known(op) && len(op) > 0 {
			op = ops[int(op[0])%len(ops)]
		}
		r := httptest.NewRequest("POST", "/", nil)
		r.URL.Path, r.URL.RawPath, r.URL.RawQuery = path, "", query
		r.Header.Set("X-Amz-Log-Type", logType)
		err := Validate(op, r, body)
		if err == nil {
			return
		}
		var le *lambdaerr.Error
		if !errors.As(err, &le) || le.Type != lambdaerr.Validation {
			t.Fatalf("%s: got %v, want a ValidationException", op, err)
		}
		m := countRE.FindStringSubmatch(le.Message)
		if m == nil || (m[1] == "1") != (m[2] == "") || m[1] == "0" {
			t.Fatalf("%s: message %q does not count its errors as AWS does", op, le.Message)
		}
	})
}
