package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// contextResult is what test/functions/context returns.
type contextResult struct {
	RequestID   string            `json:"request_id"`
	FunctionARN string            `json:"function_arn"`
	DeadlineMS  int64             `json:"deadline_ms"`
	Env         map[string]string `json:"env"`
	Cwd         string            `json:"cwd"`
}

func invokeContext(t *testing.T, c *lambda.Client, name string) contextResult {
	t.Helper()
	out := invokeJSON(t, c, name, `{}`)
	if out.FunctionError != nil {
		t.Fatalf("context function failed: %s", out.Payload)
	}
	var r contextResult
	if err := json.Unmarshal(out.Payload, &r); err != nil {
		t.Fatalf("payload %s: %v", out.Payload, err)
	}
	return r
}

// decodeTail decodes an invoke's LogResult.
func decodeTail(t *testing.T, out *lambda.InvokeOutput) string {
	t.Helper()
	if out.LogResult == nil {
		t.Fatal("no X-Amz-Log-Result with LogType Tail")
	}
	b, err := base64.StdEncoding.DecodeString(aws.ToString(out.LogResult))
	if err != nil {
		t.Fatalf("LogResult is not base64: %v", err)
	}
	return string(b)
}

func TestInvokeEcho(t *testing.T) {
	s := sharedServer(t)
	c := s.lambdaClient()
	name := deploy(t, c, functionSpec{fn: "echo"})

	t.Run("RequestResponse returns the payload from $LATEST", func(t *testing.T) {
		out := invokeJSON(t, c, name, `{"hello":"world","n":[1,2,3]}`)
		if out.StatusCode != http.StatusOK {
			t.Errorf("status = %d, want 200", out.StatusCode)
		}
		if string(out.Payload) != `{"hello":"world","n":[1,2,3]}` {
			t.Errorf("payload = %s", out.Payload)
		}
		if got := aws.ToString(out.ExecutedVersion); got != "$LATEST" {
			t.Errorf("X-Amz-Executed-Version = %q, want $LATEST", got)
		}
		if out.FunctionError != nil {
			t.Errorf("X-Amz-Function-Error = %q", aws.ToString(out.FunctionError))
		}
	})
	t.Run("an empty payload is accepted", func(t *testing.T) {
		out := invoke(t, c, &lambda.InvokeInput{FunctionName: aws.String(name)})
		if out.StatusCode != http.StatusOK || out.FunctionError != nil {
			t.Errorf("status %d, function error %q", out.StatusCode, aws.ToString(out.FunctionError))
		}
	})
	t.Run("DryRun answers 204 without running", func(t *testing.T) {
		out := invoke(t, c, &lambda.InvokeInput{FunctionName: aws.String(name), InvocationType: types.InvocationTypeDryRun})
		if out.StatusCode != http.StatusNoContent {
			t.Errorf("status = %d, want 204", out.StatusCode)
		}
	})
	t.Run("the function can be named by its ARN", func(t *testing.T) {
		arn := "arn:aws:lambda:" + region + ":" + accountID + ":function:" + name
		out := invokeJSON(t, c, arn, `"by arn"`)
		if string(out.Payload) != `"by arn"` {
			t.Errorf("payload = %s", out.Payload)
		}
	})
}

func TestInvokeLogTail(t *testing.T) {
	s := sharedServer(t)
	c := s.lambdaClient()
	name := deploy(t, c, functionSpec{fn: "logs"})
	startLine := regexp.MustCompile(`(?m)^START RequestId: ([0-9a-f-]{36}) Version: \$LATEST$`)
	// tail invokes and returns the decoded log tail and the request id its START line names.
	tail := func(payload string) (string, string) {
		out := invoke(t, c, &lambda.InvokeInput{FunctionName: aws.String(name), LogType: types.LogTypeTail, Payload: []byte(payload)})
		if out.FunctionError != nil {
			t.Fatalf("function error: %s", out.Payload)
		}
		logs := decodeTail(t, out)
		m := startLine.FindStringSubmatch(logs)
		if m == nil {
			return logs, ""
		}
		return logs, m[1]
	}
	report := func(id string) *regexp.Regexp {
		return regexp.MustCompile(`(?m)^REPORT RequestId: ` + regexp.QuoteMeta(id) +
			`\tDuration: \d+\.\d{2} ms\tBilled Duration: \d+ ms\tMemory Size: 128 MB\tMax Memory Used: \d+ MB\t`)
	}

	cold, coldID := tail(`{"lines":3}`)
	t.Run("a cold invoke's tail has START, the output, END and a REPORT with Init Duration", func(t *testing.T) {
		if coldID == "" {
			t.Fatalf("no START RequestId: <id> Version: $LATEST line:\n%s", cold)
		}
		for _, want := range []string{"log line 0 \nlog line 1 \nlog line 2 \n", "\nEND RequestId: " + coldID + "\n"} {
			if !strings.Contains(cold, want) {
				t.Errorf("tail lacks %q:\n%s", want, cold)
			}
		}
		if !report(coldID).MatchString(cold) {
			t.Errorf("tail has no well-formed REPORT line:\n%s", cold)
		}
		if !regexp.MustCompile(`\tInit Duration: \d+\.\d{2} ms\t`).MatchString(cold) {
			t.Errorf("a cold start's REPORT lacks Init Duration:\n%s", cold)
		}
	})

	warm, warmID := tail(`{"lines":1}`)
	t.Run("a warm invoke's REPORT has no Init Duration", func(t *testing.T) {
		if warmID == "" || warmID == coldID {
			t.Errorf("warm request id %q (cold was %q)", warmID, coldID)
		}
		if !report(warmID).MatchString(warm) {
			t.Errorf("tail has no well-formed REPORT line:\n%s", warm)
		}
		if strings.Contains(warm, "Init Duration") {
			t.Errorf("a warm invoke reports Init Duration:\n%s", warm)
		}
	})

	big, _ := tail(`{"lines":2000,"width":100}`)
	t.Run("a large log is cut to its last 4 KB, which end with the REPORT line", func(t *testing.T) {
		if len(big) > 4096 {
			t.Errorf("tail is %d bytes, want at most 4096", len(big))
		}
		if len(big) < 3500 {
			t.Errorf("tail is only %d bytes of a 200 KB log", len(big))
		}
		last := regexp.MustCompile(`log line 1999 x+\nEND RequestId: ([0-9a-f-]{36})\nREPORT RequestId: ([0-9a-f-]{36})\t`).FindStringSubmatch(big)
		if last == nil || last[1] != last[2] {
			t.Errorf("tail does not end with the last line, END and REPORT:\n%s", big)
		}
	})
}

func TestInvokeContextAndEnvironment(t *testing.T) {
	s := sharedServer(t)
	c := s.lambdaClient()
	name := deploy(t, c, functionSpec{fn: "context", memory: 256, timeout: 7, env: map[string]string{"GREETING": "hello", "EMPTY": ""}})

	start := time.Now()
	out := invokeJSON(t, c, name, `{}`)
	end := time.Now()
	var r contextResult
	if err := json.Unmarshal(out.Payload, &r); err != nil {
		t.Fatalf("payload %s: %v", out.Payload, err)
	}

	t.Run("the request id is the response's x-amzn-RequestId", func(t *testing.T) {
		if id := requestID(out.ResultMetadata); r.RequestID == "" || r.RequestID != id {
			t.Errorf("function saw request id %q, response header says %q", r.RequestID, id)
		}
	})
	t.Run("the invoked ARN is the function's", func(t *testing.T) {
		if want := "arn:aws:lambda:" + region + ":" + accountID + ":function:" + name; r.FunctionARN != want {
			t.Errorf("InvokedFunctionArn = %q, want %q", r.FunctionARN, want)
		}
	})
	t.Run("the deadline is the timeout after the invoke started", func(t *testing.T) {
		d := time.UnixMilli(r.DeadlineMS)
		if d.Before(start.Add(7*time.Second-time.Second)) || d.After(end.Add(7*time.Second+time.Second)) {
			t.Errorf("deadline %s is not about 7s after the invoke (%s..%s)", d, start, end)
		}
	})
	t.Run("Lambda's environment variables and the user's are set", func(t *testing.T) {
		want := map[string]string{
			"AWS_LAMBDA_FUNCTION_NAME":        name,
			"AWS_LAMBDA_FUNCTION_VERSION":     "$LATEST",
			"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
			"AWS_REGION":                      region,
			"AWS_DEFAULT_REGION":              region,
			"AWS_LAMBDA_LOG_GROUP_NAME":       "/aws/lambda/" + name,
			"_HANDLER":                        "bootstrap",
			"GREETING":                        "hello",
			"EMPTY":                           "",
		}
		for k, v := range want {
			if got, ok := r.Env[k]; !ok || got != v {
				t.Errorf("%s = %q (set: %v), want %q", k, got, ok, v)
			}
		}
		if !regexp.MustCompile(`^\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]{32}$`).MatchString(r.Env["AWS_LAMBDA_LOG_STREAM_NAME"]) {
			t.Errorf("AWS_LAMBDA_LOG_STREAM_NAME = %q, want YYYY/MM/DD/[$LATEST]<32 hex>", r.Env["AWS_LAMBDA_LOG_STREAM_NAME"])
		}
		wantRoot := "/var/task"
		if iso := isolation(t); iso == "none" || iso == "process" {
			wantRoot = r.Cwd // no mount namespace: the code's own directory stands in for /var/task
		}
		if r.Env["LAMBDA_TASK_ROOT"] != wantRoot || r.Cwd != r.Env["LAMBDA_TASK_ROOT"] {
			t.Errorf("LAMBDA_TASK_ROOT = %q and the working directory %q; want both %q", r.Env["LAMBDA_TASK_ROOT"], r.Cwd, wantRoot)
		}
		if r.Env["AWS_LAMBDA_RUNTIME_API"] == "" {
			t.Error("AWS_LAMBDA_RUNTIME_API is not set")
		}
	})
}

func TestInvokeFunctionErrors(t *testing.T) {
	s := sharedServer(t)
	c := s.lambdaClient()

	t.Run("a returned Go error passes through as Unhandled with its type and message", func(t *testing.T) {
		name := deploy(t, c, functionSpec{fn: "error"})
		fe := wantFunctionError(t, invokeJSON(t, c, name, `{}`))
		if fe.ErrorType != "TeapotError" || fe.ErrorMessage != "I'm a teapot: short and stout" {
			t.Errorf("error = %+v, want TeapotError: I'm a teapot: short and stout", fe)
		}
	})
	t.Run("a panic is an Unhandled error and the next invoke still answers", func(t *testing.T) {
		name := deploy(t, c, functionSpec{fn: "panic"})
		for range 2 {
			fe := wantFunctionError(t, invokeJSON(t, c, name, `{}`))
			if !strings.Contains(fe.ErrorMessage, "the handler panicked on purpose") {
				t.Errorf("errorMessage = %q, want the panic value", fe.ErrorMessage)
			}
		}
	})
	t.Run("a timeout reports Task timed out and the next invoke works", func(t *testing.T) {
		name := deploy(t, c, functionSpec{fn: "sleep", timeout: 1})
		out := invokeJSON(t, c, name, `{"ms":5000}`)
		wantFunctionError(t, out)
		if !strings.Contains(string(out.Payload), "Task timed out after 1.00 seconds") {
			t.Errorf("payload = %s, want Task timed out after 1.00 seconds", out.Payload)
		}
		next := invokeJSON(t, c, name, `{"ms":0}`)
		if next.FunctionError != nil || string(next.Payload) != `"slept"` {
			t.Errorf("invoke after a timeout: error %q payload %s", aws.ToString(next.FunctionError), next.Payload)
		}
	})
	t.Run("a runtime that exits mid-invoke is Runtime.ExitError and the next invoke works", func(t *testing.T) {
		name := deploy(t, c, functionSpec{fn: "exit"})
		fe := wantFunctionError(t, invokeJSON(t, c, name, `{"exit":true}`))
		if fe.ErrorType != "Runtime.ExitError" {
			t.Errorf("errorType = %q, want Runtime.ExitError (%s)", fe.ErrorType, fe.ErrorMessage)
		}
		next := invokeJSON(t, c, name, `{"exit":false}`)
		if next.FunctionError != nil || string(next.Payload) != `"alive"` {
			t.Errorf("invoke after an exit: error %q payload %s", aws.ToString(next.FunctionError), next.Payload)
		}
	})
	t.Run("a runtime that fails during init is an Unhandled Runtime error every time", func(t *testing.T) {
		name := deploy(t, c, functionSpec{fn: "initfail"})
		for range 2 {
			fe := wantFunctionError(t, invokeJSON(t, c, name, `{}`))
			if fe.ErrorType != "Runtime.ExitError" {
				t.Errorf("errorType = %q, want Runtime.ExitError (%s)", fe.ErrorType, fe.ErrorMessage)
			}
		}
	})
}

func TestInvokeOutOfMemory(t *testing.T) {
	iso := isolation(t)
	if iso == "process" || iso == "none" {
		t.Skipf("the %q isolation backend does not enforce MemorySize; set EMBER_E2E_ISOLATION=jail to run this", iso)
	}
	s := sharedServer(t)
	c := s.lambdaClient()
	// At 128 MB a function gets about 7 % of a CPU, and on a paravirtual host (PVM: shadow page
	// tables) each page fault is slow, so reaching 128 MB takes it seconds: the timeout is long
	// enough that the memory limit, not the clock, ends the invoke.
	name := deploy(t, c, functionSpec{fn: "oom", memory: 128, timeout: 60})
	fe := wantFunctionError(t, invokeJSON(t, c, name, `{"mb":512}`))
	if fe.ErrorType != "Runtime.OutOfMemory" {
		t.Errorf("errorType = %q, want Runtime.OutOfMemory (%s)", fe.ErrorType, fe.ErrorMessage)
	}
	next := invokeJSON(t, c, name, `{"mb":1}`)
	if next.FunctionError != nil {
		t.Errorf("invoke after running out of memory failed: %s", next.Payload)
	}
}

func TestWarmSandboxesAreReused(t *testing.T) {
	s := sharedServer(t)
	c := s.lambdaClient()
	name := deploy(t, c, functionSpec{fn: "counter"})
	for want := 1; want <= 3; want++ {
		out := invokeJSON(t, c, name, `{}`)
		if got := string(out.Payload); got != fmt.Sprint(want) {
			t.Fatalf("invoke %d returned %s: sequential invokes should reuse one warm sandbox", want, got)
		}
	}
}

func TestBadInvokeRequestsAreRejected(t *testing.T) {
	s := sharedServer(t)
	c := s.lambdaClient()
	ctx := context.Background()
	name := deploy(t, c, functionSpec{fn: "echo"})

	t.Run("a payload over 6 MB is 413 RequestTooLargeException", func(t *testing.T) {
		big := `"` + strings.Repeat("a", 6*1024*1024+1) + `"`
		_, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(name), Payload: []byte(big)})
		wantAPIError(t, err, http.StatusRequestEntityTooLarge, "RequestTooLargeException")
	})
	t.Run("a payload that is not JSON is InvalidRequestContentException", func(t *testing.T) {
		_, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(name), Payload: []byte(`{not json`)})
		wantAPIError(t, err, http.StatusBadRequest, "InvalidRequestContentException")
	})
	t.Run("an unknown function is 404 ResourceNotFoundException", func(t *testing.T) {
		_, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(uniqueName("missing"))})
		wantAPIError(t, err, http.StatusNotFound, "ResourceNotFoundException")
	})
}
