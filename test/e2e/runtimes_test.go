package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ember-serverless/ember/internal/runtimes"
	"github.com/ember-serverless/ember/internal/testenv"
)

// zipDir zips the regular files of a fixture directory under test/functions.
func zipDir(t *testing.T, dir string) []byte {
	t.Helper()
	var entries []zipEntry
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		entries = append(entries, zipEntry{name: filepath.ToSlash(rel), mode: 0o644, body: body})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	z, err := zipFiles(entries...)
	if err != nil {
		t.Fatal(err)
	}
	return z
}

// runtimeInvoke is what `aws lambda invoke --log-type Tail` reports, with the payload it wrote.
type runtimeInvoke struct {
	StatusCode    int
	FunctionError string
	LogResult     string
	log           string
	payload       []byte
}

// createWithCLI creates a function from a fixture directory with `aws lambda create-function`
// and waits for it to be Active.
func createWithCLI(t *testing.T, s *emberServer, runtime, handler, fixture string) string {
	t.Helper()
	zipPath := filepath.Join(t.TempDir(), "fn.zip")
	if err := os.WriteFile(zipPath, zipDir(t, filepath.Join("..", "functions", fixture)), 0o644); err != nil {
		t.Fatal(err)
	}
	name := uniqueName(strings.ReplaceAll(runtime, ".", ""))
	var out struct{ FunctionName, Runtime, Handler string }
	decodeCLI(t, s.aws(t, "lambda", "create-function", "--function-name", name, "--runtime", runtime,
		"--handler", handler, "--role", "arn:aws:iam::"+accountID+":role/e2e", "--zip-file", "fileb://"+zipPath), &out)
	if out.Runtime != runtime || out.Handler != handler {
		t.Errorf("create-function returned %+v", out)
	}
	waitReady(t, s.lambdaClient(), name)
	return name
}

// invokeWithCLI invokes with `aws lambda invoke --log-type Tail`.
func invokeWithCLI(t *testing.T, s *emberServer, name, payload string) runtimeInvoke {
	t.Helper()
	outFile := filepath.Join(t.TempDir(), "out.json")
	var out runtimeInvoke
	decodeCLI(t, s.aws(t, "lambda", "invoke", "--function-name", name, "--cli-binary-format", "raw-in-base64-out",
		"--payload", payload, "--log-type", "Tail", outFile), &out)
	log, err := base64.StdEncoding.DecodeString(out.LogResult)
	if err != nil {
		t.Fatalf("LogResult %q: %v", out.LogResult, err)
	}
	out.log = string(log)
	if out.payload, err = os.ReadFile(outFile); err != nil {
		t.Fatal(err)
	}
	return out
}

var startRequestID = regexp.MustCompile(`(?m)^START RequestId: ([0-9a-f-]{36}) Version: \$LATEST$`)

// managedRuntime is one language's fixtures and what Lambda's runtime for it shows.
type managedRuntime struct {
	runtime  string
	dir      string // under test/functions
	handler  string // module.function of the fixtures
	missing  string // a handler the hello fixture does not export
	traceKey string // the error document's stack field: "trace" for Node.js, "stackTrace" for Python
	// context maps the hello fixture's keys to the context values they must hold.
	context func(name, requestID string) map[string]any
	// logs are the lines the hello fixture writes during an invoke.
	logs func(name, requestID string) []string
}

var managedRuntimes = []managedRuntime{
	{
		runtime: "nodejs20.x", dir: "nodejs", handler: "index.handler", missing: "index.nothere", traceKey: "trace",
		context: func(name, id string) map[string]any {
			return map[string]any{"awsRequestId": id, "functionName": name, "functionVersion": "$LATEST",
				"invokedFunctionArn": "arn:aws:lambda:" + region + ":" + accountID + ":function:" + name,
				"memoryLimitInMB":    "128", "logGroupName": "/aws/lambda/" + name, "executionEnv": "AWS_Lambda_nodejs20.x",
				"event": map[string]any{"order": "42"}}
		},
		logs: func(name, id string) []string {
			return []string{`\t` + id + `\tINFO\thello from ` + regexp.QuoteMeta(name) + `$`}
		},
	},
	{
		runtime: "python3.11", dir: "python", handler: "app.handler", missing: "app.nothere", traceKey: "stackTrace",
		context: func(name, id string) map[string]any {
			return map[string]any{"aws_request_id": id, "function_name": name, "function_version": "$LATEST",
				"invoked_function_arn": "arn:aws:lambda:" + region + ":" + accountID + ":function:" + name,
				"memory_limit_in_mb":   "128", "log_group_name": "/aws/lambda/" + name, "execution_env": "AWS_Lambda_python3.11",
				"event": map[string]any{"order": "42"}}
		},
		logs: func(name, id string) []string {
			return []string{`^hello from ` + regexp.QuoteMeta(name) + `$`, `^\[INFO\]\t\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\t` + id + `\tlogged for ` + id + `$`}
		},
	},
}

func TestManagedRuntimesRunHandlersWrittenAsAWSDocumentsThem(t *testing.T) {
	needAWSCLI(t)
	s := sharedServer(t)
	installed := runtimes.Detect(context.Background(), nil)
	for _, mr := range managedRuntimes {
		t.Run(mr.runtime, func(t *testing.T) {
			t.Parallel()
			if _, err := installed.Lookup(mr.runtime); err != nil {
				testenv.Need(t, "this host cannot run %s: %v", mr.runtime, err)
			}
			t.Run("a handler gets the event and every context field, and its log lines are in the tail", func(t *testing.T) {
				name := createWithCLI(t, s, mr.runtime, mr.handler, mr.dir+"/hello")
				out := invokeWithCLI(t, s, name, `{"order":"42"}`)
				if out.StatusCode != 200 || out.FunctionError != "" {
					t.Fatalf("invoke returned %+v: %s\n%s", out, out.payload, out.log)
				}
				m := startRequestID.FindStringSubmatch(out.log)
				if m == nil {
					t.Fatalf("the tail has no START line:\n%s", out.log)
				}
				var got map[string]any
				if err := json.Unmarshal(out.payload, &got); err != nil {
					t.Fatalf("payload %s: %v", out.payload, err)
				}
				for k, v := range mr.context(name, m[1]) {
					if !jsonSame(got[k], v) {
						t.Errorf("%s = %#v, want %#v", k, got[k], v)
					}
				}
				for _, k := range []string{"logStreamName", "log_stream_name"} {
					if v, ok := got[k]; ok && !strings.Contains(v.(string), "[$LATEST]") {
						t.Errorf("%s = %q", k, v)
					}
				}
				for _, k := range []string{"remainingTimeInMillis", "remaining_time_in_millis"} {
					if v, ok := got[k]; ok && !(v.(float64) > 0 && v.(float64) <= 3000) {
						t.Errorf("%s = %v, want within the 3 s timeout", k, v)
					}
				}
				for _, re := range mr.logs(name, m[1]) {
					if !regexp.MustCompile(`(?m)` + re).MatchString(out.log) {
						t.Errorf("the tail has no line matching %q:\n%s", re, out.log)
					}
				}
				// The same lines are in the function's durable log, which `aws logs tail` reads.
				first := strings.TrimPrefix(strings.TrimSuffix(mr.logs(name, m[1])[0], "$"), "^")
				testenv.CheckFor(t, stateTimeout, pollStep, func() error {
					r := s.aws(t, "logs", "tail", "/aws/lambda/"+name, "--since", "1h", "--format", "short")
					if r.code != 0 {
						return fmt.Errorf("aws logs tail exited %d: %s", r.code, r.stderr)
					}
					if !regexp.MustCompile(first).MatchString(r.stdout) {
						return fmt.Errorf("aws logs tail printed no line matching %s:\n%s", first, r.stdout)
					}
					return nil
				})
			})
			t.Run("a thrown error of the function's own class is the function error", func(t *testing.T) {
				name := createWithCLI(t, s, mr.runtime, mr.handler, mr.dir+"/error")
				out := invokeWithCLI(t, s, name, `{"order":"42"}`)
				doc := wantErrorDoc(t, out, "OrderNotFound", "no order 42")
				if trace, ok := doc[mr.traceKey].([]any); !ok || len(trace) == 0 {
					t.Errorf("%s = %#v, want the stack", mr.traceKey, doc[mr.traceKey])
				}
			})
			t.Run("a syntax error in the module is Runtime.UserCodeSyntaxError", func(t *testing.T) {
				name := createWithCLI(t, s, mr.runtime, mr.handler, mr.dir+"/syntax")
				out := invokeWithCLI(t, s, name, `{}`)
				wantErrorDoc(t, out, "Runtime.UserCodeSyntaxError", "yntax")
				if !strings.Contains(out.log, "INIT_REPORT") || !strings.Contains(out.log, "Runtime.UserCodeSyntaxError") {
					t.Errorf("the tail does not report the failed init:\n%s", out.log)
				}
			})
			t.Run("a handler the module does not export is Runtime.HandlerNotFound", func(t *testing.T) {
				name := createWithCLI(t, s, mr.runtime, mr.missing, mr.dir+"/hello")
				out := invokeWithCLI(t, s, name, `{}`)
				wantErrorDoc(t, out, "Runtime.HandlerNotFound", "nothere")
			})
		})
	}

	t.Run("a runtime whose interpreter is not installed is rejected at create and update, naming it", func(t *testing.T) {
		missing := ""
		for _, rt := range []string{"nodejs24.x", "nodejs22.x", "nodejs20.x", "python3.14", "python3.13", "python3.10"} {
			if _, err := installed.Lookup(rt); err != nil {
				missing = rt
				break
			}
		}
		if missing == "" {
			t.Skip("this host has every Node.js and Python version tried")
		}
		zipPath := filepath.Join(t.TempDir(), "fn.zip")
		if err := os.WriteFile(zipPath, zipDir(t, filepath.Join("..", "functions", "nodejs", "hello")), 0o644); err != nil {
			t.Fatal(err)
		}
		r := s.aws(t, "lambda", "create-function", "--function-name", uniqueName("missing"), "--runtime", missing,
			"--handler", "index.handler", "--role", "arn:aws:iam::"+accountID+":role/e2e", "--zip-file", "fileb://"+zipPath)
		lang := "Node.js "
		if strings.HasPrefix(missing, "python") {
			lang = "Python "
		}
		if r.code == 0 || !strings.Contains(r.stderr, "InvalidParameterValueException") || !strings.Contains(r.stderr, "it needs "+lang) {
			t.Errorf("create-function with %s exited %d: %s", missing, r.code, r.stderr)
		}

		name := deploy(t, s.lambdaClient(), functionSpec{fn: "echo"})
		r = s.aws(t, "lambda", "update-function-configuration", "--function-name", name, "--runtime", missing)
		if r.code == 0 || !strings.Contains(r.stderr, "InvalidParameterValueException") || !strings.Contains(r.stderr, "it needs "+lang) {
			t.Errorf("update-function-configuration to %s exited %d: %s", missing, r.code, r.stderr)
		}
	})
}

// wantErrorDoc checks an invoke failed with an Unhandled function error of errType whose
// message contains msg, and returns the error document.
func wantErrorDoc(t *testing.T, out runtimeInvoke, errType, msg string) map[string]any {
	t.Helper()
	if out.StatusCode != 200 || out.FunctionError != "Unhandled" {
		t.Errorf("invoke returned status %d, FunctionError %q; want 200 Unhandled", out.StatusCode, out.FunctionError)
	}
	var doc map[string]any
	if err := json.Unmarshal(out.payload, &doc); err != nil {
		t.Fatalf("error document %s: %v", out.payload, err)
	}
	if doc["errorType"] != errType {
		t.Errorf("errorType = %v, want %s (document %s)\n%s", doc["errorType"], errType, out.payload, out.log)
	}
	if m, _ := doc["errorMessage"].(string); !strings.Contains(m, msg) {
		t.Errorf("errorMessage = %q, want it to contain %q", m, msg)
	}
	return doc
}

func jsonSame(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}
