package worker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ember-serverless/ember/internal/invoke"
	"github.com/ember-serverless/ember/internal/sandbox/process"
	"github.com/ember-serverless/ember/internal/testenv"
	"github.com/ember-serverless/ember/internal/worker"
)

// newExtSandbox is a sandbox of the test function with the test extension's layer.
func newExtSandbox(t *testing.T, env map[string]string) (*worker.Sandbox, *memLog) {
	t.Helper()
	return newExtSandboxTimeout(t, 5*time.Second, env)
}

func newExtSandboxTimeout(t *testing.T, timeout time.Duration, env map[string]string) (*worker.Sandbox, *memLog) {
	t.Helper()
	ml := &memLog{}
	w, err := worker.New(worker.Config{Backend: process.New(), Logs: ml, Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	sb, err := w.NewSandbox(context.Background(), invoke.SandboxSpec{
		FunctionName: "fn", FunctionARN: "arn:aws:lambda:us-east-1:123456789012:function:fn",
		Version: "$LATEST", Runtime: "provided.al2023", Handler: "bootstrap",
		Command: []string{"/var/task/bootstrap"}, MemoryMB: 128, Timeout: timeout,
		Env: env, CodeDir: codeDir, LayerDirs: []string{extLayer},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Destroy(context.Background()) })
	return sb, ml
}

// waitForLog polls the log until it holds every one of want.
func waitForLog(t *testing.T, ml *memLog, want ...string) string {
	t.Helper()
	var text string
	testenv.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		text = ml.text()
		for _, w := range want {
			if !strings.Contains(text, w) {
				return fmt.Errorf("the log lacks %q:\n%s", w, text)
			}
		}
		return nil
	})
	return text
}

func TestAnExtensionGetsEveryInvokeAndTheTelemetryOfEach(t *testing.T) {
	sb, ml := newExtSandbox(t, nil)
	first := invokeIn(t, sb, `{"op":"log","lines":1,"text":"MARKER-FOR-EXT"}`, false)
	second := invokeIn(t, sb, `{"op":"echo","text":"b"}`, false)
	if first.FunctionError != "" || !strings.Contains(string(second.Payload), `"calls":2`) {
		t.Fatalf("the function should answer as without extensions: %s / %s", first.Payload, second.Payload)
	}
	r1, r2 := fmt.Sprintf("req-%d", reqN-1), fmt.Sprintf("req-%d", reqN)
	text := waitForLog(t, ml,
		`EXT registered test-ext status 200 id `,
		`body {"accountId":"123456789012","functionName":"fn","functionVersion":"$LATEST","handler":"bootstrap"}`,
		`EXT subscribed status 200 "OK"`,
		"EXT INVOKE "+r1+" arn:aws:lambda:us-east-1:123456789012:function:fn deadline=true event-id=true",
		"EXT INVOKE "+r2+" ",
		"EXT telemetry platform.initStart",
		"EXT telemetry platform.initRuntimeDone  success",
		"EXT telemetry platform.start "+r1,
		"EXT telemetry platform.runtimeDone "+r1+" success",
		"EXT telemetry platform.report "+r1+" success",
		"EXT telemetry platform.report "+r2+" success",
		"EXT telemetry function log seen",
	)
	if strings.Index(text, "EXT INVOKE "+r1) > strings.Index(text, "EXT INVOKE "+r2) {
		t.Errorf("INVOKE events out of order:\n%s", text)
	}
	sb.Destroy(context.Background())
	waitForLog(t, ml, "EXT SHUTDOWN spindown deadline=true")
}

func TestTheNextInvokeWaitsUntilTheExtensionsAreDoneWithTheLast(t *testing.T) {
	sb, ml := newExtSandbox(t, map[string]string{"EXT_SLEEP_MS": "200"})
	invokeIn(t, sb, `{"op":"echo"}`, false)
	r1 := fmt.Sprintf("req-%d", reqN)
	invokeIn(t, sb, `{"op":"echo"}`, false)
	r2 := fmt.Sprintf("req-%d", reqN)
	text := waitForLog(t, ml, "EXT done "+r1, "START RequestId: "+r2)
	if strings.Index(text, "EXT done "+r1) > strings.Index(text, "START RequestId: "+r2) {
		t.Errorf("%s started before the extension was done with %s:\n%s", r2, r1, text)
	}
}

func TestAnExtensionsInitErrorIsTheInvokesError(t *testing.T) {
	sb, _ := newExtSandbox(t, map[string]string{"EXT_INIT_ERROR": "1"})
	res := invokeIn(t, sb, `{"op":"echo"}`, true)
	if res.FunctionError != "Unhandled" || res.ErrorType != "Extension.Crash" || res.Reusable {
		t.Fatalf("want an unhandled Extension.Crash that ends the sandbox, got %+v %s", res, res.Payload)
	}
	if !strings.Contains(string(res.Log), "INIT_REPORT") || !strings.Contains(string(res.Log), "Error Type: Extension.Crash") {
		t.Errorf("the tail should report the failed init:\n%s", res.Log)
	}
}

func TestTheExtensionsAPIRejectsWhatLambdaRejects(t *testing.T) {
	sb, ml := newExtSandbox(t, nil)
	res := invokeIn(t, sb, `{"op":"env"}`, false)
	var got struct{ Env map[string]string }
	if err := json.Unmarshal(res.Payload, &got); err != nil {
		t.Fatal(err)
	}
	api := "http://" + got.Env["AWS_LAMBDA_RUNTIME_API"]
	text := waitForLog(t, ml, "EXT subscribed")
	id := regexp.MustCompile(`id ([0-9a-f-]{36})`).FindStringSubmatch(text)
	if id == nil {
		t.Fatalf("no extension id in the log:\n%s", text)
	}
	valid := `{"schemaVersion":"2022-12-13","types":["platform"],"destination":{"protocol":"HTTP","URI":"http://sandbox.localdomain:1/x"}}`
	for _, tc := range []struct {
		name, method, path, id, extName, body string
		status                                int
		errType                               string
	}{
		{"registering after the init phase", "POST", "/2020-01-01/extension/register", "", "late", `{"events":[]}`, 403, "Extension.RegistrationClosed"},
		{"registering without a name", "POST", "/2020-01-01/extension/register", "", "", `{"events":[]}`, 403, "Extension.InvalidExtensionName"},
		{"registering for an unknown event", "POST", "/2020-01-01/extension/register", "", "late", `{"events":["BOOT"]}`, 403, "Extension.InvalidEventType"},
		{"event/next without an identifier", "GET", "/2020-01-01/extension/event/next", "", "", "", 403, "Extension.MissingExtensionIdentifier"},
		{"event/next with an unknown identifier", "GET", "/2020-01-01/extension/event/next", "nope", "", "", 403, "Extension.UnknownExtensionIdentifier"},
		{"subscribing without an identifier", "PUT", "/2022-07-01/telemetry", "", "", valid, 403, "Extension.MissingExtensionIdentifier"},
		{"subscribing with a bad schema version", "PUT", "/2022-07-01/telemetry", id[1], "", strings.Replace(valid, "2022-12-13", "2020-01-01", 1), 400, "ValidationError"},
		{"subscribing to an unknown type", "PUT", "/2022-07-01/telemetry", id[1], "", strings.Replace(valid, `"platform"`, `"metrics"`, 1), 400, "ValidationError"},
		{"subscribing with too small a buffer timeout", "PUT", "/2022-07-01/telemetry", id[1], "", strings.Replace(valid, `"types"`, `"buffering":{"timeoutMs":5},"types"`, 1), 400, "ValidationError"},
		{"subscribing without a destination", "PUT", "/2022-07-01/telemetry", id[1], "", `{"schemaVersion":"2022-12-13","types":["platform"]}`, 400, "ValidationError"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, api+tc.path, strings.NewReader(tc.body))
			if tc.id != "" {
				req.Header.Set("Lambda-Extension-Identifier", tc.id)
			}
			if tc.extName != "" {
				req.Header.Set("Lambda-Extension-Name", tc.extName)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var e struct{ ErrorType string }
			json.Unmarshal(body, &e)
			if resp.StatusCode != tc.status || e.ErrorType != tc.errType {
				t.Errorf("got %d %s, want %d %s", resp.StatusCode, body, tc.status, tc.errType)
			}
		})
	}
}

func TestAFunctionWithoutExtensionsHasNoExtensionsAPIState(t *testing.T) {
	sb, _ := newSandbox(t, 3*time.Second, nil)
	res := invokeIn(t, sb, `{"op":"env"}`, false)
	var got struct{ Env map[string]string }
	if err := json.Unmarshal(res.Payload, &got); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", "http://"+got.Env["AWS_LAMBDA_RUNTIME_API"]+"/2020-01-01/extension/event/next", nil)
	req.Header.Set("Lambda-Extension-Identifier", "x")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("event/next in a sandbox without extensions: %d, want 403", resp.StatusCode)
	}
	req, _ = http.NewRequest("POST", "http://"+got.Env["AWS_LAMBDA_RUNTIME_API"]+"/2020-01-01/extension/register", strings.NewReader(`{"events":[]}`))
	req.Header.Set("Lambda-Extension-Name", "late")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "Extension.RegistrationClosed") {
		t.Errorf("registering after the init phase: %d %s", resp.StatusCode, body)
	}
	if again := invokeIn(t, sb, `{"op":"echo"}`, false); !again.Reusable || again.FunctionError != "" {
		t.Errorf("the sandbox should still work: %+v", again)
	}
}

func TestATimedOutInvokeShutsTheExtensionsDownForTimeout(t *testing.T) {
	sb, ml := newExtSandboxTimeout(t, 300*time.Millisecond, nil)
	ok := invokeIn(t, sb, `{"op":"error","text":"x"}`, false)
	r1 := fmt.Sprintf("req-%d", reqN)
	res := invokeIn(t, sb, `{"op":"sleep","ms":5000}`, false)
	r2 := fmt.Sprintf("req-%d", reqN)
	if ok.FunctionError != "Unhandled" || res.ErrorType != invoke.SandboxTimedout || res.Reusable {
		t.Fatalf("want a handled error then a timeout; got %+v, %+v", ok, res)
	}
	waitForLog(t, ml, "EXT telemetry platform.runtimeDone "+r1+" failure",
		"EXT telemetry platform.runtimeDone "+r2+" timeout", "EXT SHUTDOWN timeout deadline=true")
}
