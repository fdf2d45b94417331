package runtimes_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ember-serverless/ember/internal/runtimes"
	"github.com/ember-serverless/ember/internal/testenv"
)

// fakeAPI is a Runtime API that hands out queued events and records the client's answers.
type fakeAPI struct {
	events  chan string
	answers chan answer
	out     output
}

// answer is what the client posted for an invocation, or for its init.
type answer struct {
	kind      string // "response", "error" or "init"
	requestID string
	errorType string // the Lambda-Runtime-Function-Error-Type header
	body      []byte
	logs      string // the client's output when the answer arrived
}

// output is the client's stdout and stderr: a file it writes directly, so that whatever it
// wrote before posting an answer is there when the answer arrives.
type output struct{ f *os.File }

func (o output) String() string {
	b, _ := os.ReadFile(o.f.Name())
	return string(b)
}

func newFakeAPI(t *testing.T) (*fakeAPI, string) {
	out, err := os.Create(filepath.Join(t.TempDir(), "output"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { out.Close() })
	f := &fakeAPI{events: make(chan string, 8), answers: make(chan answer, 8), out: output{out}}
	n := 0
	mux := http.NewServeMux()
	mux.HandleFunc("GET /2018-06-01/runtime/invocation/next", func(w http.ResponseWriter, r *http.Request) {
		select {
		case ev := <-f.events:
			n++
			h := w.Header()
			h.Set("Lambda-Runtime-Aws-Request-Id", "req-"+strconv.Itoa(n))
			h.Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(time.Now().Add(30*time.Second).UnixMilli(), 10))
			h.Set("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:000000000000:function:fn")
			h.Set("Lambda-Runtime-Trace-Id", "Root=1-5759e988-bd862e3fe1be46a994272793")
			io.WriteString(w, ev)
		case <-r.Context().Done():
		}
	})
	record := func(kind string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			f.answers <- answer{kind: kind, requestID: r.PathValue("id"), errorType: r.Header.Get("Lambda-Runtime-Function-Error-Type"),
				body: body, logs: f.out.String()}
			w.WriteHeader(http.StatusAccepted)
			io.WriteString(w, `{"status":"OK"}`)
		}
	}
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/response", record("response"))
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/error", record("error"))
	mux.HandleFunc("POST /2018-06-01/runtime/init/error", record("init"))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return f, strings.TrimPrefix(srv.URL, "http://")
}

// next waits for the client's next answer.
func (f *fakeAPI) next(t *testing.T) answer {
	t.Helper()
	select {
	case a := <-f.answers:
		return a
	case <-time.After(20 * time.Second):
		t.Fatalf("the client answered nothing; its output:\n%s", f.out.String())
		return answer{}
	}
}

// startClient writes files into a task directory and runs runtime rt's client on it.
func startClient(t *testing.T, rt runtimes.Runtime, files map[string]string, handler string) *fakeAPI {
	t.Helper()
	task := t.TempDir()
	for name, body := range files {
		p := filepath.Join(task, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	table := runtimes.Detect(context.Background(), nil)
	dirs, err := table.Install(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cmdline, err := rt.Command(task, nil, dirs[rt.Name])
	if err != nil {
		t.Fatal(err)
	}
	f, addr := newFakeAPI(t)
	cmd := exec.Command(cmdline[0], cmdline[1:]...)
	cmd.Dir = task
	cmd.Env = []string{
		"AWS_LAMBDA_RUNTIME_API=" + addr, "_HANDLER=" + handler, "LAMBDA_TASK_ROOT=" + task,
		"AWS_LAMBDA_FUNCTION_NAME=fn", "AWS_LAMBDA_FUNCTION_VERSION=$LATEST", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128",
		"AWS_LAMBDA_LOG_GROUP_NAME=/aws/lambda/fn", "AWS_LAMBDA_LOG_STREAM_NAME=2026/01/01/[$LATEST]abc",
		"PATH=/usr/bin:/bin", "TZ=:UTC",
	}
	for k, v := range rt.Env() {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdout, cmd.Stderr = f.out.f, f.out.f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return f
}

func lookupOrSkip(t *testing.T, name string) runtimes.Runtime {
	t.Helper()
	rt, err := runtimes.Detect(context.Background(), nil).Lookup(name)
	if err != nil {
		testenv.Need(t, "needs %s: %v", name, err)
	}
	return rt
}

// clientCase is one behaviour of a runtime client.
type clientCase struct {
	name    string
	files   map[string]string
	handler string
	event   string
	check   func(t *testing.T, a answer)
}

func runClientCases(t *testing.T, rt runtimes.Runtime, cases []clientCase) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := startClient(t, rt, tc.files, tc.handler)
			f.events <- tc.event
			tc.check(t, f.next(t))
		})
	}
}

func wantResponse(want map[string]any) func(*testing.T, answer) {
	return func(t *testing.T, a answer) {
		t.Helper()
		if a.kind != "response" {
			t.Fatalf("got %s %s, want a response; output:\n%s", a.kind, a.body, a.logs)
		}
		var got map[string]any
		if err := json.Unmarshal(a.body, &got); err != nil {
			t.Fatalf("response %s: %v", a.body, err)
		}
		for k, v := range want {
			if !jsonEqual(got[k], v) {
				t.Errorf("response[%q] = %#v, want %#v (response %s)", k, got[k], v, a.body)
			}
		}
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

// wantError checks an error document: its kind of answer, type, and a message fragment; and
// that its trace field (named traceKey) is a list.
func wantError(kind, errType, msg, traceKey string) func(*testing.T, answer) {
	return func(t *testing.T, a answer) {
		t.Helper()
		if a.kind != kind {
			t.Fatalf("got %s %s, want %s; output:\n%s", a.kind, a.body, kind, a.logs)
		}
		var doc map[string]any
		if err := json.Unmarshal(a.body, &doc); err != nil {
			t.Fatalf("error document %s: %v", a.body, err)
		}
		if doc["errorType"] != errType || a.errorType != errType {
			t.Errorf("errorType = %v (header %q), want %s", doc["errorType"], a.errorType, errType)
		}
		if m, _ := doc["errorMessage"].(string); !strings.Contains(m, msg) {
			t.Errorf("errorMessage = %q, want it to contain %q", m, msg)
		}
		if _, ok := doc[traceKey].([]any); !ok {
			t.Errorf("%s = %#v, want a list (document %s)", traceKey, doc[traceKey], a.body)
		}
	}
}

func TestTheNodeJSClientRunsHandlersAsLambdaDoes(t *testing.T) {
	rt := lookupOrSkip(t, "nodejs20.x")
	contextFields := `{ awsRequestId: context.awsRequestId, functionName: context.functionName,
		functionVersion: context.functionVersion, invokedFunctionArn: context.invokedFunctionArn,
		memoryLimitInMB: context.memoryLimitInMB, logGroupName: context.logGroupName, logStreamName: context.logStreamName,
		remaining: context.getRemainingTimeInMillis() > 0, event,
		execEnv: process.env.AWS_EXECUTION_ENV, trace: process.env._X_AMZN_TRACE_ID }`
	wantContext := map[string]any{"awsRequestId": "req-1", "functionName": "fn", "functionVersion": "$LATEST",
		"invokedFunctionArn": "arn:aws:lambda:us-east-1:000000000000:function:fn", "memoryLimitInMB": "128",
		"logGroupName": "/aws/lambda/fn", "logStreamName": "2026/01/01/[$LATEST]abc", "remaining": true,
		"event": map[string]any{"a": 1.0}, "execEnv": "AWS_Lambda_nodejs20.x", "trace": "Root=1-5759e988-bd862e3fe1be46a994272793"}
	runClientCases(t, rt, []clientCase{
		{"an async handler in index.mjs gets every context field", map[string]string{
			"index.mjs": "export const handler = async (event, context) => (" + contextFields + ");\n",
		}, "index.handler", `{"a":1}`, wantResponse(wantContext)},
		{"a CommonJS callback handler in a .js file answers through its callback", map[string]string{
			"app.js": "exports.run = (event, context, callback) => { callback(null, " + contextFields + "); };\n",
		}, "app.run", `{"a":1}`, wantResponse(wantContext)},
		{"a .js file under package.json type module is an ES module", map[string]string{
			"package.json": `{"type":"module"}`,
			"index.js":     "export function handler(event) { return Promise.resolve({ esm: typeof require === 'undefined' }); }\n",
		}, "index.handler", `{}`, wantResponse(map[string]any{"esm": true})},
		{"a .js ES module without a package.json type is imported all the same", map[string]string{
			"index.js": "export const handler = async () => ({ esm: true });\n",
		}, "index.handler", `{}`, wantResponse(map[string]any{"esm": true})},
		{"a .cjs handler in a subdirectory is found by its path", map[string]string{
			"src/lib/fn.cjs": "module.exports.nested = { handler: async () => ({ cjs: typeof require === 'function' }) };\n",
		}, "src/lib/fn.nested.handler", `{}`, wantResponse(map[string]any{"cjs": true})},
		{"a callback handler waits for the event loop to empty before it answers", map[string]string{
			"index.js": "exports.handler = (e, c, cb) => { setTimeout(() => console.log('timer fired'), 50); cb(null, {ok: true}); };\n",
		}, "index.handler", `{}`, func(t *testing.T, a answer) {
			wantResponse(map[string]any{"ok": true})(t, a)
			if !strings.Contains(a.logs, "timer fired") {
				t.Errorf("the response came before the handler's timer; output:\n%s", a.logs)
			}
		}},
		{"callbackWaitsForEmptyEventLoop false answers without waiting for timers", map[string]string{
			"index.js": "exports.handler = (e, c, cb) => { c.callbackWaitsForEmptyEventLoop = false; setTimeout(() => console.log('late'), 3000); cb(null, 'now'); };\n",
		}, "index.handler", `{}`, func(t *testing.T, a answer) {
			if a.kind != "response" || string(a.body) != `"now"` || strings.Contains(a.logs, "late") {
				t.Errorf("got %s %s after output %q, want the response before the timer", a.kind, a.body, a.logs)
			}
		}},
		{"an error the module throws while loading keeps its own name", map[string]string{
			"index.mjs": "throw new TypeError('bad config');\n",
		}, "index.handler", `{}`, wantError("init", "TypeError", "bad config", "trace")},
		{"a thrown custom error keeps its own name", map[string]string{
			"index.mjs": "class MyError extends Error { constructor(m) { super(m); this.name = 'MyError'; } }\n" +
				"export const handler = async () => { throw new MyError('it broke'); };\n",
		}, "index.handler", `{}`, wantError("error", "MyError", "it broke", "trace")},
		{"a syntax error in the module is Runtime.UserCodeSyntaxError", map[string]string{
			"index.mjs": "export const handler = async ( => {;\n",
		}, "index.handler", `{}`, wantError("init", "Runtime.UserCodeSyntaxError", "SyntaxError: ", "trace")},
		{"a missing module is Runtime.ImportModuleError", map[string]string{
			"other.mjs": "export const handler = async () => 1;\n",
		}, "index.handler", `{}`, wantError("init", "Runtime.ImportModuleError", "Cannot find module 'index'", "trace")},
		{"a missing export is Runtime.HandlerNotFound", map[string]string{
			"index.mjs": "export const other = async () => 1;\n",
		}, "index.handler", `{}`, wantError("init", "Runtime.HandlerNotFound", "index.handler is undefined or not exported", "trace")},
		{"console output is written in Lambda's text format", map[string]string{
			"index.mjs": "console.log('at init');\nexport const handler = async () => { console.log('hello %s', 'world'); console.error('two\\nlines'); return 1; };\n",
		}, "index.handler", `{}`, func(t *testing.T, a answer) {
			for _, re := range []string{
				`(?m)^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\tundefined\tINFO\tat init$`,
				`(?m)^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\treq-1\tINFO\thello world$`,
				`(?m)^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\treq-1\tERROR\ttwo\rlines$`,
			} {
				if !regexp.MustCompile(re).MatchString(a.logs) {
					t.Errorf("output does not match %q:\n%q", re, a.logs)
				}
			}
		}},
	})
}

func TestThePythonClientRunsHandlersAsLambdaDoes(t *testing.T) {
	rt := lookupOrSkip(t, "python3.11")
	contextFields := `{"aws_request_id": context.aws_request_id, "function_name": context.function_name,
        "function_version": context.function_version, "invoked_function_arn": context.invoked_function_arn,
        "memory_limit_in_mb": context.memory_limit_in_mb, "log_group_name": context.log_group_name,
        "log_stream_name": context.log_stream_name, "remaining": context.get_remaining_time_in_millis() > 0,
        "event": event, "exec_env": os.environ["AWS_EXECUTION_ENV"], "trace": os.environ["_X_AMZN_TRACE_ID"]}`
	wantContext := map[string]any{"aws_request_id": "req-1", "function_name": "fn", "function_version": "$LATEST",
		"invoked_function_arn": "arn:aws:lambda:us-east-1:000000000000:function:fn", "memory_limit_in_mb": "128",
		"log_group_name": "/aws/lambda/fn", "log_stream_name": "2026/01/01/[$LATEST]abc", "remaining": true,
		"event": map[string]any{"a": 1.0}, "exec_env": "AWS_Lambda_python3.11", "trace": "Root=1-5759e988-bd862e3fe1be46a994272793"}
	runClientCases(t, rt, []clientCase{
		{"a handler in app.py gets every context field", map[string]string{
			"app.py": "import os\n\ndef handler(event, context):\n    return " + contextFields + "\n",
		}, "app.handler", `{"a":1}`, wantResponse(wantContext)},
		{"a handler in a package directory is found by its path", map[string]string{
			"pkg/__init__.py": "", "pkg/mod.py": "import decimal\n\ndef run(event, context):\n    return {'n': decimal.Decimal('1.5')}\n",
		}, "pkg/mod.run", `{}`, wantResponse(map[string]any{"n": 1.5})},
		{"a raised custom exception keeps its class name and stack trace", map[string]string{
			"app.py": "class MyError(Exception):\n    pass\n\ndef handler(event, context):\n    raise MyError('it broke')\n",
		}, "app.handler", `{}`, func(t *testing.T, a answer) {
			wantError("error", "MyError", "it broke", "stackTrace")(t, a)
			if !strings.Contains(string(a.body), `app.py\", line 5, in handler`) {
				t.Errorf("the stack trace does not name the handler's line: %s", a.body)
			}
			if !strings.Contains(a.logs, "[ERROR] MyError: it broke\rTraceback (most recent call last):") {
				t.Errorf("the error was not logged as Lambda does:\n%q", a.logs)
			}
		}},
		{"an exception the module raises while loading keeps its class name", map[string]string{
			"app.py": "raise ValueError('bad config')\n",
		}, "app.handler", `{}`, wantError("init", "ValueError", "bad config", "stackTrace")},
		{"a syntax error in the module is Runtime.UserCodeSyntaxError", map[string]string{
			"app.py": "def handler(event, context)\n    return 1\n",
		}, "app.handler", `{}`, wantError("init", "Runtime.UserCodeSyntaxError", "Syntax error in module 'app'", "stackTrace")},
		{"a missing module is Runtime.ImportModuleError", map[string]string{"other.py": ""},
			"app.handler", `{}`, wantError("init", "Runtime.ImportModuleError", "Unable to import module 'app': No module named 'app'", "stackTrace")},
		{"a missing function fails each invoke with Runtime.HandlerNotFound", map[string]string{"app.py": "def other(e, c):\n    return 1\n"},
			"app.handler", `{}`, wantError("error", "Runtime.HandlerNotFound", "Handler 'handler' missing on module 'app'", "stackTrace")},
		{"a built-in module cannot be the handler's", map[string]string{"app.py": ""},
			"sys.handler", `{}`, wantError("init", "Runtime.BuiltInModuleConflict", "Cannot use built-in module sys", "stackTrace")},
		{"a handler without a module is Runtime.MalformedHandlerName", map[string]string{"app.py": ""},
			"app", `{}`, wantError("init", "Runtime.MalformedHandlerName", "Bad handler 'app'", "stackTrace")},
		{"print is written as is and logging in Lambda's format", map[string]string{
			"app.py": "import logging\nlogger = logging.getLogger()\nlogger.setLevel(logging.INFO)\n\n" +
				"def handler(event, context):\n    print('plain output')\n    logger.info('two\\nlines')\n    return None\n",
		}, "app.handler", `{}`, func(t *testing.T, a answer) {
			if string(a.body) != "null" {
				t.Errorf("response %s, want null", a.body)
			}
			for _, re := range []string{
				`(?m)^plain output$`,
				`(?m)^\[INFO\]\t\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\treq-1\ttwo\rlines$`,
			} {
				if !regexp.MustCompile(re).MatchString(a.logs) {
					t.Errorf("output does not match %q:\n%q", re, a.logs)
				}
			}
		}},
	})
}
