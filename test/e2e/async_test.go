package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ember-serverless/ember/internal/testenv"
)

// waitUntil polls f, which says what it still waits for, until it is done.
func waitUntil(t *testing.T, total time.Duration, f func() (bool, string)) {
	t.Helper()
	testenv.CheckFor(t, total, pollStep, func() error {
		if ok, status := f(); !ok {
			return errors.New(status)
		}
		return nil
	})
}

// loopbackAddr is a loopback HOST:PORT nothing listens on at the time of the call.
func loopbackAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func subjectARN(subject string) string {
	return "arn:aws:nats:" + region + ":" + accountID + ":subject:" + subject
}

// natsReader connects to the server's --nats-listen address, captures subjects in a stream
// of their own, and reads everything stored there.
type natsReader struct {
	t      *testing.T
	addr   string
	stream string
}

func newNATSReader(t *testing.T, addr, stream string, subjects ...string) *natsReader {
	t.Helper()
	r := &natsReader{t: t, addr: addr, stream: stream}
	js, nc := r.connect()
	defer nc.Close()
	if _, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: stream, Subjects: subjects,
		Storage: jetstream.FileStorage}); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *natsReader) connect() (jetstream.JetStream, *nats.Conn) {
	r.t.Helper()
	nc, err := nats.Connect("nats://"+r.addr, nats.Timeout(10*time.Second))
	if err != nil {
		r.t.Fatalf("connecting to the embedded NATS at %s: %v", r.addr, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		r.t.Fatal(err)
	}
	return js, nc
}

// all reads every message stored on subject, from the start.
func (r *natsReader) all(subject string) []*nats.Msg {
	r.t.Helper()
	js, nc := r.connect()
	defer nc.Close()
	ctx := context.Background()
	st, err := js.Stream(ctx, r.stream)
	if err != nil {
		r.t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		r.t.Fatal(err)
	}
	var out []*nats.Msg
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if err != nil {
			continue
		}
		if m.Subject == subject {
			out = append(out, &nats.Msg{Subject: m.Subject, Data: m.Data, Header: m.Header})
		}
	}
	return out
}

// record is the part of Lambda's invocation record the tests read.
type record struct {
	Version        string
	RequestContext struct {
		RequestID              string
		FunctionArn            string
		Condition              string
		ApproximateInvokeCount int
	}
	RequestPayload  json.RawMessage
	ResponseContext *struct {
		StatusCode      int
		ExecutedVersion string
		FunctionError   string
	}
	ResponsePayload json.RawMessage
}

func decodeRecords(t *testing.T, msgs []*nats.Msg) []record {
	t.Helper()
	out := make([]record, len(msgs))
	for i, m := range msgs {
		if err := json.Unmarshal(m.Data, &out[i]); err != nil {
			t.Fatalf("record %s: %v", m.Data, err)
		}
	}
	return out
}

func TestAsyncInvokesReachDestinationsAndTheDeadLetterQueue(t *testing.T) {
	natsAddr := loopbackAddr(t)
	s := newServer(t, t.TempDir(), "--nats-listen", natsAddr, "--async-retry-delay", "200ms")
	c := s.lambdaClient()
	ctx := context.Background()
	reader := newNATSReader(t, natsAddr, "E2E", "e2e.>")
	echo := deploy(t, c, functionSpec{fn: "echo"})
	failing := deploy(t, c, functionSpec{fn: "error"})

	out := s.aws(t, "lambda", "put-function-event-invoke-config", "--function-name", echo,
		"--destination-config", `{"OnSuccess":{"Destination":"`+subjectARN("e2e.ok")+`"}}`)
	if out.code != 0 || !strings.Contains(out.stdout, `"FunctionArn": "arn:aws:lambda:us-east-1:000000000000:function:`+echo+`:$LATEST"`) {
		t.Fatalf("put-function-event-invoke-config: %+v", out)
	}
	if _, err := c.PutFunctionEventInvokeConfig(ctx, &lambda.PutFunctionEventInvokeConfigInput{FunctionName: aws.String(failing),
		MaximumRetryAttempts: aws.Int32(1), DestinationConfig: &types.DestinationConfig{
			OnFailure: &types.OnFailure{Destination: aws.String(subjectARN("e2e.failed"))}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String(failing),
		DeadLetterConfig: &types.DeadLetterConfig{TargetArn: aws.String(subjectARN("e2e.dlq"))}}); err != nil {
		t.Fatal(err)
	}
	waitReady(t, c, failing)

	t.Run("the AWS CLI's Event invoke is answered 202 and its record reaches OnSuccess", func(t *testing.T) {
		outFile := filepath.Join(t.TempDir(), "out.json")
		out := s.aws(t, "lambda", "invoke", "--function-name", echo, "--invocation-type", "Event",
			"--cli-binary-format", "raw-in-base64-out", "--payload", `{"via":"cli"}`, outFile)
		if out.code != 0 || !strings.Contains(out.stdout, `"StatusCode": 202`) {
			t.Fatalf("aws lambda invoke --invocation-type Event: %+v", out)
		}
		if b, _ := os.ReadFile(outFile); len(b) != 0 {
			t.Errorf("an Event invoke's body is empty, got %q", b)
		}
	})
	t.Run("the SDK's InvokeAsync is answered 202", func(t *testing.T) {
		//lint:ignore SA1019 InvokeAsync is deprecated by AWS but still served; this checks Ember serves it.
		resp, err := c.InvokeAsync(ctx, &lambda.InvokeAsyncInput{FunctionName: aws.String(echo), InvokeArgs: strings.NewReader(`{"via":"invoke-async"}`)})
		if err != nil || resp.Status != 202 {
			t.Fatalf("InvokeAsync: %+v %v", resp, err)
		}
	})
	t.Run("the SDK's InvokeAsync of a missing function names its $LATEST, as Invoke does", func(t *testing.T) {
		//lint:ignore SA1019 InvokeAsync is deprecated by AWS but still served; this checks Ember serves it.
		_, err := c.InvokeAsync(ctx, &lambda.InvokeAsyncInput{FunctionName: aws.String("missing-fn"), InvokeArgs: strings.NewReader(`{}`)})
		wantAPIError(t, err, http.StatusNotFound, "ResourceNotFoundException")
		if want := "Function not found: arn:aws:lambda:" + region + ":" + accountID + ":function:missing-fn:$LATEST"; err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("InvokeAsync of a missing function: %v, want the message %q", err, want)
		}
	})
	var failedID string
	t.Run("the SDK's Event invoke of a failing function is answered 202", func(t *testing.T) {
		resp, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(failing), InvocationType: types.InvocationTypeEvent,
			Payload: []byte(`{"via":"sdk"}`)})
		if err != nil || resp.StatusCode != 202 {
			t.Fatalf("Invoke Event: %+v %v", resp, err)
		}
		failedID = requestID(resp.ResultMetadata)
	})
	t.Run("an Event invoke of an unknown function is 404, not 202", func(t *testing.T) {
		_, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("no-such-function"), InvocationType: types.InvocationTypeEvent})
		wantAPIError(t, err, 404, "ResourceNotFoundException")
	})

	waitUntil(t, 60*time.Second, func() (bool, string) {
		ok, failed, dlq := reader.all("e2e.ok"), reader.all("e2e.failed"), reader.all("e2e.dlq")
		return len(ok) == 2 && len(failed) == 1 && len(dlq) == 1,
			fmt.Sprintf("%d success records (want 2), %d failure records (want 1), %d dead letters (want 1)", len(ok), len(failed), len(dlq))
	})
	payloads := map[string]bool{}
	for _, r := range decodeRecords(t, reader.all("e2e.ok")) {
		payloads[string(r.RequestPayload)] = true
		if r.Version != "1.0" || r.RequestContext.Condition != "Success" || r.ResponseContext == nil || r.ResponseContext.StatusCode != 200 ||
			string(r.ResponsePayload) != string(r.RequestPayload) {
			t.Errorf("success record %+v", r)
		}
	}
	if !payloads[`{"via":"cli"}`] || !payloads[`{"via":"invoke-async"}`] {
		t.Errorf("success records carry payloads %v", payloads)
	}
	f := decodeRecords(t, reader.all("e2e.failed"))[0]
	if f.RequestContext.RequestID != failedID || f.RequestContext.Condition != "RetriesExhausted" || f.RequestContext.ApproximateInvokeCount != 2 ||
		f.ResponseContext == nil || f.ResponseContext.FunctionError != "Unhandled" || !strings.Contains(string(f.ResponsePayload), "teapot") {
		t.Errorf("failure record %+v (%s), want the request %s retried once", f, f.ResponsePayload, failedID)
	}
	d := reader.all("e2e.dlq")[0]
	if string(d.Data) != `{"via":"sdk"}` || d.Header.Get("RequestID") != failedID || d.Header.Get("ErrorCode") != "200" ||
		!strings.Contains(d.Header.Get("ErrorMessage"), "teapot") {
		t.Errorf("dead letter %s with headers %v", d.Data, d.Header)
	}

	t.Run("ember queue shows the function's queue and totals", func(t *testing.T) {
		out := s.ember(t, "queue", echo)
		if out.code != 0 || !regexp.MustCompile(`QUEUED\s+0\n`).MatchString(out.stdout) ||
			!regexp.MustCompile(`RECEIVED\s+2\n`).MatchString(out.stdout) || !regexp.MustCompile(`SUCCEEDED\s+2\n`).MatchString(out.stdout) {
			t.Fatalf("ember queue %s: %+v", echo, out)
		}
		if out := s.ember(t, "queue", "no-such-function"); out.code == 0 || !strings.Contains(out.stderr, "not found") {
			t.Errorf("ember queue of an unknown function: %+v", out)
		}
	})
	t.Run("the event invoke configs read back through the CLI", func(t *testing.T) {
		out := s.aws(t, "lambda", "get-function-event-invoke-config", "--function-name", failing)
		var cfg struct {
			MaximumRetryAttempts int
			DestinationConfig    struct{ OnFailure struct{ Destination string } }
		}
		if out.code != 0 || json.Unmarshal([]byte(out.stdout), &cfg) != nil || cfg.MaximumRetryAttempts != 1 ||
			cfg.DestinationConfig.OnFailure.Destination != subjectARN("e2e.failed") {
			t.Fatalf("get-function-event-invoke-config: %+v", out)
		}
		out = s.aws(t, "lambda", "list-function-event-invoke-configs", "--function-name", failing)
		if out.code != 0 || strings.Count(out.stdout, `"FunctionArn"`) != 1 {
			t.Fatalf("list-function-event-invoke-configs: %+v", out)
		}
		out = s.aws(t, "lambda", "update-function-event-invoke-config", "--function-name", failing, "--maximum-event-age-in-seconds", "3600")
		if out.code != 0 || !strings.Contains(out.stdout, `"MaximumEventAgeInSeconds": 3600`) || !strings.Contains(out.stdout, `"MaximumRetryAttempts": 1`) {
			t.Fatalf("update-function-event-invoke-config changes only what it is given: %+v", out)
		}
		out = s.aws(t, "lambda", "put-function-event-invoke-config", "--function-name", failing, "--maximum-retry-attempts", "3")
		if out.code == 0 || !strings.Contains(out.stderr, "maximumRetryAttempts") {
			t.Errorf("3 retry attempts were accepted: %+v", out)
		}
		if out := s.aws(t, "lambda", "delete-function-event-invoke-config", "--function-name", failing); out.code != 0 {
			t.Fatalf("delete: %+v", out)
		}
		if out := s.aws(t, "lambda", "get-function-event-invoke-config", "--function-name", failing); out.code == 0 ||
			!strings.Contains(out.stderr, "ResourceNotFoundException") {
			t.Errorf("get after delete: %+v", out)
		}
	})
}

// sendEvents sends Event invokes of fn with payloads {"n":from+i,...extra} from 4 clients until
// stop is closed or count are accepted, and returns the numbers accepted (answered 202).
func sendEvents(c *lambda.Client, fn string, from, count int, extra string, stop <-chan struct{}) []int {
	var mu sync.Mutex
	var accepted []int
	var wg sync.WaitGroup
	next := make(chan int)
	go func() {
		defer close(next)
		for i := from; i < from+count; i++ {
			select {
			case next <- i:
			case <-stop:
				return
			}
		}
	}()
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range next {
				resp, err := c.Invoke(context.Background(), &lambda.InvokeInput{FunctionName: aws.String(fn),
					InvocationType: types.InvocationTypeEvent, Payload: fmt.Appendf(nil, `{"n":%d%s}`, n, extra)})
				if err == nil && resp.StatusCode == 202 {
					mu.Lock()
					accepted = append(accepted, n)
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	return accepted
}

func TestEveryAcknowledgedEventRunsAfterKillDashNine(t *testing.T) {
	dir, natsAddr := t.TempDir(), loopbackAddr(t)
	flags := []string{"--nats-listen", natsAddr, "--async-ack-wait", "2s", "--async-retry-delay", "200ms"}
	s := newServer(t, dir, flags...)
	c := s.lambdaClient()
	reader := newNATSReader(t, natsAddr, "DONE", "done.>")
	echo := deploy(t, c, functionSpec{fn: "echo"})
	sleeper := deploy(t, c, functionSpec{fn: "sleep"})
	for _, fn := range []string{echo, sleeper} {
		if _, err := c.PutFunctionEventInvokeConfig(context.Background(), &lambda.PutFunctionEventInvokeConfigInput{FunctionName: aws.String(fn),
			DestinationConfig: &types.DestinationConfig{OnSuccess: &types.OnSuccess{Destination: aws.String(subjectARN("done." + fn))}}}); err != nil {
			t.Fatal(err)
		}
	}
	restart := func() {
		t.Helper()
		s2, err := startServer(dir, true, flags...)
		if err != nil {
			t.Fatal(err)
		}
		s2.logOnFailure(t)
		t.Cleanup(func() { s2.stop() })
		s = s2
		c = s.lambdaClient()
	}

	// During intake: kill the server while clients are sending; every event answered 202 must run.
	stop := make(chan struct{})
	done := make(chan []int)
	go func() { done <- sendEvents(c, echo, 0, 100000, "", stop) }()
	waitUntil(t, 60*time.Second, func() (bool, string) {
		n := len(reader.all("done." + echo))
		return n >= 50, fmt.Sprintf("%d events ran", n)
	})
	s.kill()
	close(stop)
	acceptedEcho := <-done
	restart()

	// During processing: queue slow events, kill the server while they run.
	acceptedSleep := sendEvents(c, sleeper, 0, 60, `,"ms":200`, nil)
	waitUntil(t, 60*time.Second, func() (bool, string) {
		n := len(reader.all("done." + sleeper))
		return n >= 3, fmt.Sprintf("%d slow events ran", n)
	})
	s.kill()
	restart()

	check := func(fn string, accepted []int) {
		t.Helper()
		var missing []int
		waitUntil(t, 120*time.Second, func() (bool, string) {
			ran := map[int]int{}
			for _, r := range decodeRecords(t, reader.all("done."+fn)) {
				var p struct{ N int }
				json.Unmarshal(r.RequestPayload, &p)
				ran[p.N]++
			}
			missing = missing[:0]
			for _, n := range accepted {
				if ran[n] == 0 {
					missing = append(missing, n)
				}
			}
			dups := 0
			for _, k := range ran {
				dups += k - 1
			}
			if len(missing) == 0 {
				t.Logf("%s: %d events accepted, all ran; %d runs were repeats", fn, len(accepted), dups)
			}
			return len(missing) == 0, fmt.Sprintf("%d of %d accepted events of %s never ran: %v", len(missing), len(accepted), fn, missing[:min(len(missing), 20)])
		})
	}
	check(echo, acceptedEcho)
	check(sleeper, acceptedSleep)
	if err := s.stop(); err != nil {
		t.Errorf("after the kills, SIGTERM did not stop the server cleanly: %v", err)
	}
}
