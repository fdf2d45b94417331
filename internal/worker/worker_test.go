package worker_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ember-serverless/ember/internal/gobuild"
	"github.com/ember-serverless/ember/internal/invoke"
	"github.com/ember-serverless/ember/internal/limits"
	"github.com/ember-serverless/ember/internal/testenv"

	"github.com/ember-serverless/ember/internal/logs"
	"github.com/ember-serverless/ember/internal/sandbox/jail"
	"github.com/ember-serverless/ember/internal/sandbox/process"
	"github.com/ember-serverless/ember/internal/worker"
)

var codeDir, extLayer string

func TestMain(m *testing.M) {
	jail.MaybeRunInit() // freeze_test.go's jailed sandboxes start with this binary
	dir, err := os.MkdirTemp("", "worker-test-fn")
	if err != nil {
		panic(err)
	}
	// Readable by the jail's unprivileged sandbox user, as the code store's directories are.
	os.Chmod(dir, 0o755)
	if err := gobuild.Static(filepath.Join(dir, "bootstrap"), "internal/worker/testdata/fn"); err != nil {
		fmt.Fprintln(os.Stderr, "building the test function:", err)
		os.Exit(1)
	}
	// A layer with the test extension, for extensions_test.go.
	extLayer = filepath.Join(dir, "layer")
	if err := gobuild.Static(filepath.Join(extLayer, "extensions", "test-ext"), "internal/worker/testdata/ext"); err != nil {
		fmt.Fprintln(os.Stderr, "building the test extension:", err)
		os.Exit(1)
	}
	codeDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// memLog keeps log events in memory.
type memLog struct {
	mu     sync.Mutex
	events []logs.Event
	writes [][]string // each Write's messages
}

func (m *memLog) Write(evs ...logs.Event) {
	m.mu.Lock()
	m.events = append(m.events, evs...)
	var msgs []string
	for _, ev := range evs {
		msgs = append(msgs, ev.Message)
	}
	m.writes = append(m.writes, msgs)
	m.mu.Unlock()
}

// writeWith returns the messages of the Write that held a message starting with prefix.
func (m *memLog) writeWith(prefix string) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, w := range m.writes {
		for _, msg := range w {
			if strings.HasPrefix(msg, prefix) {
				return w
			}
		}
	}
	return nil
}

func (m *memLog) text() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var b strings.Builder
	for _, e := range m.events {
		b.WriteString(e.Message + "\n")
	}
	return b.String()
}

func newSandbox(t *testing.T, timeout time.Duration, env map[string]string) (*worker.Sandbox, *memLog) {
	t.Helper()
	ml := &memLog{}
	w, err := worker.New(worker.Config{Backend: process.New(), Logs: ml, Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	sb, err := w.NewSandbox(context.Background(), invoke.SandboxSpec{
		FunctionName: "fn", FunctionARN: "arn:aws:lambda:us-east-1:000000000000:function:fn",
		Version: "$LATEST", Runtime: "provided.al2023", Handler: "bootstrap",
		Command: []string{"/var/task/bootstrap"}, MemoryMB: 128, Timeout: timeout,
		Env: env, CodeDir: codeDir,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Destroy(context.Background()) })
	return sb, ml
}

var reqN int

func invokeIn(t *testing.T, sb *worker.Sandbox, payload string, tail bool) *invoke.Result {
	t.Helper()
	reqN++
	res, err := sb.Invoke(context.Background(), &invoke.Invocation{
		RequestID: fmt.Sprintf("req-%d", reqN), Payload: []byte(payload), Tail: tail})
	if err != nil {
		t.Fatalf("invoke %s: %v", payload, err)
	}
	if res.Finish != nil {
		res.Finish() // as the API does once the answer is sent
	}
	return res
}

func TestASandboxAnswersAndIsReusedWarm(t *testing.T) {
	sb, ml := newSandbox(t, 3*time.Second, nil)
	first := invokeIn(t, sb, `{"op":"echo","text":"a"}`, true)
	if first.FunctionError != "" || !strings.Contains(string(first.Payload), `"calls":1`) {
		t.Fatalf("first invoke: %+v %s", first, first.Payload)
	}
	if first.InitDuration == 0 || !strings.Contains(string(first.Log), "Init Duration:") {
		t.Errorf("a cold invoke reports its init duration; log:\n%s", first.Log)
	}
	second := invokeIn(t, sb, `{"op":"echo","text":"b"}`, true)
	if !strings.Contains(string(second.Payload), `"calls":2`) {
		t.Errorf("the second invoke should reuse the warm process; got %s", second.Payload)
	}
	if second.InitDuration != 0 || strings.Contains(string(second.Log), "Init Duration") {
		t.Errorf("a warm invoke reports no init duration; log:\n%s", second.Log)
	}
	for _, want := range []string{"START RequestId: req-", "Version: $LATEST", "END RequestId: ", "REPORT RequestId: ",
		"Duration: ", "Billed Duration: ", "Memory Size: 128 MB", "Max Memory Used: "} {
		if !strings.Contains(string(second.Log), want) {
			t.Errorf("tail lacks %q:\n%s", want, second.Log)
		}
	}
	if !strings.Contains(ml.text(), "START RequestId: req-") {
		t.Errorf("log store did not get the START line")
	}
}

// With many sandboxes busy their lines interleave in the store, and every run of one stream's
// lines costs a message: an invocation's START goes to the store together with its first line
// of output, or with its END and REPORT when it writes none.
func TestAnInvocationsStartReachesTheStoreWithItsNextLines(t *testing.T) {
	sb, ml := newSandbox(t, 3*time.Second, nil)
	invokeIn(t, sb, `{"op":"echo"}`, false)
	invokeIn(t, sb, `{"op":"echo"}`, false)
	quiet := fmt.Sprintf("req-%d", reqN)
	got := ml.writeWith("START RequestId: " + quiet)
	if len(got) != 3 || !strings.HasPrefix(got[1], "END RequestId: "+quiet) || !strings.HasPrefix(got[2], "REPORT RequestId: "+quiet) {
		t.Errorf("a quiet invocation's lines were written as %q; want START, END and REPORT in one write", got)
	}
	res := invokeIn(t, sb, `{"op":"log","lines":2,"text":"x"}`, true)
	loud := fmt.Sprintf("req-%d", reqN)
	got = ml.writeWith("START RequestId: " + loud)
	if len(got) < 2 || got[1] != "line 0 x" {
		t.Errorf("START was written as %q; want it with the first line of output", got)
	}
	want := "START RequestId: " + loud + " Version: $LATEST\nline 0 x\nline 1 x\nno newline at the end\nEND RequestId: " + loud + "\n"
	if !strings.HasPrefix(string(res.Log), want) {
		t.Errorf("tail = %q, want it to begin %q", res.Log, want)
	}
	if i, j := strings.Index(ml.text(), "START RequestId: "+loud), strings.Index(ml.text(), "line 0 x"); i < 0 || j < i {
		t.Errorf("the store has the invocation's output before its START:\n%s", ml.text())
	}
}

// END and REPORT of an invocation whose caller wants no tail are written after the caller has
// its answer: when it calls Finish, or at the latest before the sandbox's next START or when it
// ends.
func TestTheClosingLinesFollowTheAnswer(t *testing.T) {
	sb, ml := newSandbox(t, 3*time.Second, nil)
	invokeIn(t, sb, `{"op":"echo"}`, false)
	run := func(payload string) (string, *invoke.Result) {
		t.Helper()
		reqN++
		id := fmt.Sprintf("req-%d", reqN)
		res, err := sb.Invoke(context.Background(), &invoke.Invocation{RequestID: id, Payload: []byte(payload)})
		if err != nil {
			t.Fatal(err)
		}
		return id, res
	}
	first, res := run(`{"op":"echo"}`)
	if res.Finish == nil {
		t.Fatal("a warm invocation without a tail has no Finish")
	}
	if strings.Contains(ml.text(), "END RequestId: "+first) {
		t.Errorf("END was written before Finish:\n%s", ml.text())
	}
	res.Finish()
	res.Finish() // a second call writes nothing more
	if got := strings.Count(ml.text(), "REPORT RequestId: "+first+"\t"); got != 1 {
		t.Errorf("after Finish the log has %d REPORT lines of %s:\n%s", got, first, ml.text())
	}
	// Without Finish, the next invocation writes them before its START.
	second, _ := run(`{"op":"echo"}`)
	third, res := run(`{"op":"echo"}`)
	res.Finish()
	log := ml.text()
	end, report, start := strings.Index(log, "END RequestId: "+second), strings.Index(log, "REPORT RequestId: "+second), strings.Index(log, "START RequestId: "+third)
	if end < 0 || report < end || start < report {
		t.Errorf("%s's END and REPORT should come before %s's START:\n%s", second, third, log)
	}
	// And a sandbox that ends writes what it held.
	last, _ := run(`{"op":"echo"}`)
	sb.Destroy(context.Background())
	if !strings.Contains(ml.text(), "REPORT RequestId: "+last+"\t") {
		t.Errorf("the last invocation's REPORT was lost when the sandbox ended:\n%s", ml.text())
	}
}

// A caller that forgets Result.Finish (a poller calling the path directly, say) delays an
// idle sandbox's END and REPORT by about a second; it cannot lose them nor hold them until the
// sandbox's next invocation.
func TestAForgottenFinishStillWritesTheClosingLines(t *testing.T) {
	sb, ml := newSandbox(t, 3*time.Second, nil)
	invokeIn(t, sb, `{"op":"echo"}`, false)
	res, err := sb.Invoke(context.Background(), &invoke.Invocation{RequestID: "forgotten", Payload: []byte(`{"op":"echo"}`)})
	if err != nil {
		t.Fatal(err)
	}
	if res.Finish == nil {
		t.Fatal("a warm invocation without a tail has no Finish: nothing to forget")
	}
	log := waitForLog(t, ml, "END RequestId: forgotten", "REPORT RequestId: forgotten\t")
	if strings.Index(log, "START RequestId: forgotten") > strings.Index(log, "END RequestId: forgotten") {
		t.Errorf("END before START:\n%s", log)
	}
	res.Finish() // late: writes nothing more
	if got := strings.Count(ml.text(), "REPORT RequestId: forgotten\t"); got != 1 {
		t.Errorf("%d REPORT lines after a late Finish:\n%s", got, ml.text())
	}
}

func TestTheRuntimeSeesLambdasEnvironmentAndHeaders(t *testing.T) {
	sb, _ := newSandbox(t, 3*time.Second, map[string]string{"MY_VAR": "x y"})
	res := invokeIn(t, sb, `{"op":"env"}`, false)
	var got struct {
		Env        map[string]string
		RequestID  string `json:"requestId"`
		ARN        string `json:"arn"`
		DeadlineMs int64  `json:"deadlineMs"`
	}
	if err := json.Unmarshal(res.Payload, &got); err != nil {
		t.Fatalf("%v: %s", err, res.Payload)
	}
	want := map[string]string{
		"AWS_LAMBDA_FUNCTION_NAME": "fn", "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128", "AWS_REGION": "us-east-1",
		"AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/fn", "_HANDLER": "bootstrap", "MY_VAR": "x y",
	}
	for k, v := range want {
		if got.Env[k] != v {
			t.Errorf("%s = %q, want %q", k, got.Env[k], v)
		}
	}
	if !strings.Contains(got.Env["AWS_LAMBDA_LOG_STREAM_NAME"], "/[$LATEST]"+sb.ID()) {
		t.Errorf("log stream %q should name the version and sandbox", got.Env["AWS_LAMBDA_LOG_STREAM_NAME"])
	}
	if got.Env["AWS_LAMBDA_RUNTIME_API"] == "" {
		t.Error("AWS_LAMBDA_RUNTIME_API is not set")
	}
	if !strings.HasPrefix(got.RequestID, "req-") || got.ARN != "arn:aws:lambda:us-east-1:000000000000:function:fn" {
		t.Errorf("request id %q, arn %q", got.RequestID, got.ARN)
	}
	if d := time.Until(time.UnixMilli(got.DeadlineMs)); d <= 0 || d > 3*time.Second {
		t.Errorf("deadline %v from now, want within the 3 s timeout", d)
	}
}

func TestFailuresAreReportedAsLambdaReportsThem(t *testing.T) {
	cases := []struct {
		name, payload string
		timeout       time.Duration
		errType       invoke.ErrorType
		message       string
		reusable      bool
	}{
		{"a returned error passes through", `{"op":"error","text":"x"}`, 3 * time.Second, "errorString", "it went wrong: x", true},
		{"a panic is an error and ends the runtime", `{"op":"panic"}`, 3 * time.Second, "string", "boom", false},
		{"an exit is Runtime.ExitError", `{"op":"exit"}`, 3 * time.Second, "Runtime.ExitError", "Runtime exited with error: exit status 3", false},
		{"a timeout kills the sandbox", `{"op":"sleep","ms":5000}`, time.Second, "Sandbox.Timedout", "Task timed out after 1.00 seconds", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sb, _ := newSandbox(t, tc.timeout, nil)
			invokeIn(t, sb, `{"op":"echo"}`, false) // warm it up
			res := invokeIn(t, sb, tc.payload, true)
			if res.FunctionError != "Unhandled" || res.ErrorType != tc.errType {
				t.Fatalf("got error %q type %q, want Unhandled %q; payload %s", res.FunctionError, res.ErrorType, tc.errType, res.Payload)
			}
			if !strings.Contains(string(res.Payload), tc.message) {
				t.Errorf("payload %s lacks %q", res.Payload, tc.message)
			}
			if !tc.reusable {
				// A runtime may answer and then exit (aws-lambda-go does after a panic): the
				// sandbox must become unusable either way.
				testenv.CheckFor(t, 5*time.Second, 5*time.Millisecond, func() error {
					if sb.Usable() {
						return errors.New("the sandbox is still usable")
					}
					return nil
				})
			}
			if sb.Usable() != tc.reusable {
				t.Errorf("usable = %v, want %v", sb.Usable(), tc.reusable)
			}
			if !strings.Contains(string(res.Log), "END RequestId") || !strings.Contains(string(res.Log), "REPORT RequestId") {
				t.Errorf("the log lacks END or REPORT:\n%s", res.Log)
			}
		})
	}
}

func TestAnExitLeavesItsLastWordsInTheLog(t *testing.T) {
	sb, _ := newSandbox(t, 3*time.Second, nil)
	res := invokeIn(t, sb, `{"op":"exit"}`, true)
	if !strings.Contains(string(res.Log), "exiting now") {
		t.Errorf("the log lacks the function's last line:\n%s", res.Log)
	}
}

func TestAFailedInitIsTheInvokesError(t *testing.T) {
	sb, _ := newSandbox(t, 3*time.Second, map[string]string{"INIT_FAIL": "1"})
	res := invokeIn(t, sb, `{}`, true)
	if res.FunctionError != "Unhandled" || res.ErrorType != "Runtime.ExitError" || res.Reusable {
		t.Fatalf("got %+v %s", res, res.Payload)
	}
	if !strings.Contains(string(res.Log), "cannot initialise") || !strings.Contains(string(res.Log), "INIT_REPORT") {
		t.Errorf("the tail lacks the init output:\n%s", res.Log)
	}
}

func TestAnInitErrorReportedBeforeExitingIsTheInvokesError(t *testing.T) {
	for i := 0; i < 5; i++ { // the report and the exit race; the report must win every time
		sb, _ := newSandbox(t, 3*time.Second, map[string]string{"INIT_POST": "1"})
		res := invokeIn(t, sb, `{}`, false)
		if res.ErrorType != "Custom.Init" || !strings.Contains(string(res.Payload), "bad config") {
			t.Fatalf("got %s %s, want the reported init error", res.ErrorType, res.Payload)
		}
	}
}

func TestTheTailHoldsEveryLineUpToItsLastFourKilobytes(t *testing.T) {
	sb, _ := newSandbox(t, 3*time.Second, nil)
	res := invokeIn(t, sb, `{"op":"log","lines":3,"text":"hi"}`, true)
	log := string(res.Log)
	for _, want := range []string{"line 0 hi\n", "line 2 hi\n", "no newline at the end\n"} {
		if !strings.Contains(log, want) {
			t.Errorf("tail lacks %q:\n%s", want, log)
		}
	}
	if strings.Index(log, "line 2 hi") > strings.Index(log, "END RequestId") {
		t.Errorf("the function's output comes after END:\n%s", log)
	}
	big := invokeIn(t, sb, `{"op":"log","lines":2000,"text":"padding padding padding"}`, true)
	if len(big.Log) != limits.TailSize {
		t.Errorf("tail is %d bytes, want %d", len(big.Log), limits.TailSize)
	}
	if !strings.HasSuffix(strings.TrimRight(string(big.Log), "\t\n"), "MB") {
		t.Errorf("tail should end with the REPORT line:\n%s", big.Log[len(big.Log)-200:])
	}
}

func TestTheFirstInvokeIsColdEvenWhenInitFinishedBeforeIt(t *testing.T) {
	sb, _ := newSandbox(t, 3*time.Second, nil)
	testenv.CheckFor(t, 10*time.Second, 2*time.Millisecond, func() error {
		if !sb.Initialized() {
			return errors.New("the runtime has not asked for an invocation")
		}
		return nil
	})
	res := invokeIn(t, sb, `{"op":"echo"}`, true)
	if res.InitDuration == 0 || !strings.Contains(string(res.Log), "Init Duration:") {
		t.Errorf("the sandbox's first invoke must report its init; log:\n%s", res.Log)
	}
}

// slowNextRuntime answers each event at once with its payload, and waits for the duration
// named in the payload ("sleep ms") before it asks for the next one.
const slowNextRuntime = `#!/usr/bin/python3
import os, time, urllib.request
api = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime/invocation/"
while True:
    with urllib.request.urlopen(api + "next") as r:
        rid, body = r.headers["Lambda-Runtime-Aws-Request-Id"], r.read()
    urllib.request.urlopen(urllib.request.Request(api + rid + "/response", data=body, method="POST")).read()
    time.sleep(int(body.split()[-1]) / 1000)
`

// The function's timeout runs from when the runtime takes the event, however late that is,
// and an invoke whose caller gives up before the runtime takes it is never run.
func TestTheTimeoutCountsFromWhenTheRuntimeTakesTheEvent(t *testing.T) {
	testenv.NeedCommand(t, "/usr/bin/python3", "python3") // the test runtime is a Python script
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "bootstrap"), []byte(slowNextRuntime), 0o755); err != nil {
		t.Fatal(err)
	}
	w, err := worker.New(worker.Config{Backend: process.New(), Logs: &memLog{}, Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	sb, err := w.NewSandbox(context.Background(), invoke.SandboxSpec{
		FunctionName: "slow", FunctionARN: "arn:aws:lambda:us-east-1:000000000000:function:slow",
		Version: "$LATEST", Runtime: "provided.al2023", Handler: "bootstrap",
		Command: []string{"/var/task/bootstrap"}, MemoryMB: 128, Timeout: time.Second, CodeDir: dir,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Destroy(context.Background()) })

	// The runtime dawdles 1.5 s before its next /next: longer than the timeout.
	if res := invokeIn(t, sb, "first 1500", false); res.FunctionError != "" {
		t.Fatalf("first invoke: %+v %s", res, res.Payload)
	}
	// A caller that gives up before then: the event is taken back, never run.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	_, err = sb.Invoke(ctx, &invoke.Invocation{RequestID: "given-up", Payload: []byte("given-up 0")})
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("an invoke given up before the runtime took it = %v, want its context's error", err)
	}
	// Taken at about 1.5 s, answered at once: not a timeout, though 1 s has long passed.
	res := invokeIn(t, sb, "second 0", false)
	if res.FunctionError != "" || string(res.Payload) != "second 0" {
		t.Fatalf("an event taken late but answered at once: %+v %s", res, res.Payload)
	}
	if res.Duration > 500*time.Millisecond {
		t.Errorf("Duration %v counts the time before the runtime took the event", res.Duration)
	}
}
