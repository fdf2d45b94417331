package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/ember-serverless/ember/internal/api"
	"github.com/ember-serverless/ember/internal/control"
	"github.com/ember-serverless/ember/internal/control/controltest"
	"github.com/ember-serverless/ember/internal/invoke"
	"github.com/ember-serverless/ember/internal/lambdaerr"
	"github.com/ember-serverless/ember/internal/limits"
	"github.com/ember-serverless/ember/internal/state/statetest"
)

const role = "arn:aws:iam::000000000000:role/lambda-role"

// fakeInvoker answers every invocation with resp (or err) and remembers the last request.
type fakeInvoker struct {
	mu   sync.Mutex
	last *invoke.Request
	resp *invoke.Response
	err  error
	// functions, when set, resolves each request's function first, as the frontend does.
	functions control.Functions
}

func (f *fakeInvoker) Invoke(_ context.Context, req *invoke.Request) (*invoke.Response, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.last = req
	if f.functions != nil {
		if _, err := f.functions.ResolveName(req.Function, req.Qualifier); err != nil {
			return nil, err
		}
	}
	if f.err != nil {
		return nil, f.err
	}
	if f.resp != nil {
		return f.resp, nil
	}
	return &invoke.Response{StatusCode: 200, Payload: req.Payload, ExecutedVersion: "$LATEST"}, nil
}

func (f *fakeInvoker) lastRequest() *invoke.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.last
}

type fixture struct {
	handler  http.Handler
	invoker  *fakeInvoker
	registry *control.Registry
	code     *controltest.CodeStore
}

func newFixture(t testing.TB, opts ...api.Option) *fixture {
	t.Helper()
	code := controltest.NewCodeStore()
	reg, err := control.Open(context.Background(), statetest.New(t), control.Config{}, code)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	inv := &fakeInvoker{}
	all := append([]api.Option{api.WithRegistry(reg), api.WithInvoker(inv), api.WithCodeReader(code),
		api.WithAuthenticator(api.AllowAll{})}, opts...)
	s, err := api.New(api.Config{}, all...)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{handler: s.Handler(), invoker: inv, registry: reg, code: code}
}

func (f *fixture) do(t testing.TB, method, path string, body []byte, header map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	f.handler.ServeHTTP(rec, req)
	if rec.Header().Get("x-amzn-RequestId") == "" {
		t.Errorf("%s %s: no x-amzn-RequestId", method, path)
	}
	return rec
}

func (f *fixture) create(t testing.TB, name string) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{
		"FunctionName": name, "Runtime": "provided.al2023", "Role": role, "Handler": "bootstrap",
		"Code": map[string]any{"ZipFile": controltest.Zip(t, map[string]string{"bootstrap": "#!/bin/sh\n"})},
	})
	rec := f.do(t, "POST", "/2015-03-31/functions", body, nil)
	if rec.Code != http.StatusCreated {
		t.Fatalf("create %s: %d %s", name, rec.Code, rec.Body)
	}
}

// wireError decodes an error response, checking it carries the type in the header and body.
func wireError(t *testing.T, rec *httptest.ResponseRecorder) (typ, msg string) {
	t.Helper()
	var b struct {
		Type, Message string
		T             string `json:"__type"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil {
		t.Fatalf("error body %q: %v", rec.Body, err)
	}
	if rec.Header().Get("Content-Type") != "application/json" {
		t.Errorf("error Content-Type %q", rec.Header().Get("Content-Type"))
	}
	h := rec.Header().Get("x-amzn-ErrorType")
	if h != b.T {
		t.Errorf("x-amzn-ErrorType %q but __type %q", h, b.T)
	}
	return h, b.Message
}

func TestErrorsAreRenderedAsLambdaDoes(t *testing.T) {
	f := newFixture(t)
	f.create(t, "exists")
	big := make([]byte, 64)
	tests := []struct {
		name, method, path string
		body               []byte
		header             map[string]string
		status             int
		typ, msg           string
	}{
		{"an unknown route is an unknown operation", "GET", "/2099-01-01/nothing", nil, nil,
			404, "UnknownOperationException", "not supported"},
		{"a missing function is not found with its ARN", "GET", "/2015-03-31/functions/missing", nil, nil,
			404, "ResourceNotFoundException", "Function not found: arn:aws:lambda:us-east-1:000000000000:function:missing"},
		{"a percent-encoded ARN names the function", "GET", "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Amissing/configuration", nil, nil,
			404, "ResourceNotFoundException", "function:missing"},
		{"a bad name is an invalid parameter", "GET", "/2015-03-31/functions/bad%20name", nil, nil,
			400, "ValidationException", "functionName"},
		{"a create body that is not JSON is invalid content", "POST", "/2015-03-31/functions", []byte("{"), nil,
			400, "InvalidRequestContentException", "Could not parse request body into json"},
		{"a create of an existing function conflicts", "POST", "/2015-03-31/functions", mustJSON(map[string]any{
			"FunctionName": "exists", "Runtime": "provided.al2023", "Role": role,
			"Code": map[string]any{"ZipFile": controltest.Zip(t, map[string]string{"bootstrap": "x"})}}), nil,
			409, "ResourceConflictException", "Function already exist: exists"},
		{"an invoke payload that is not JSON is invalid content", "POST", "/2015-03-31/functions/exists/invocations", []byte("hello"), nil,
			400, "InvalidRequestContentException", "Could not parse request body into json: Could not parse payload into json"},
		{"an unknown invocation type is rejected", "POST", "/2015-03-31/functions/exists/invocations", nil,
			map[string]string{"X-Amz-Invocation-Type": "Later"}, 400, "ValidationException", "invocationType"},
		{"a client context that is not base64 JSON is rejected", "POST", "/2015-03-31/functions/exists/invocations", nil,
			map[string]string{"X-Amz-Client-Context": "%%%"}, 400, "InvalidRequestContentException", "Client context"},
		{"qualifiers that disagree are rejected", "POST", "/2015-03-31/functions/exists:1/invocations?Qualifier=2", nil, nil,
			400, "InvalidParameterValueException", "does not match"},
		{"a MaxItems of zero is rejected", "GET", "/2015-03-31/functions/?MaxItems=0", nil, nil,
			400, "ValidationException", "maxItems"},
		{"an unknown FunctionVersion is rejected", "GET", "/2015-03-31/functions/?FunctionVersion=1", nil, nil,
			400, "ValidationException", "functionVersion"},
		{"a code download with a bad signature is denied", "GET", "/ember/code/exists?sha256=x&expires=99999999999&signature=00", nil, nil,
			403, "AccessDeniedException", "signature"},
		{"deleting $LATEST alone is rejected", "DELETE", "/2015-03-31/functions/exists?Qualifier=%24LATEST", nil, nil,
			400, "InvalidParameterValueException", "$LATEST version cannot be deleted"},
		{"a short body is not JSON", "PUT", "/2015-03-31/functions/exists/configuration", big[:1], nil,
			400, "InvalidRequestContentException", "Could not parse"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := f.do(t, tt.method, tt.path, tt.body, tt.header)
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.status, rec.Body)
			}
			typ, msg := wireError(t, rec)
			if typ != tt.typ || !strings.Contains(msg, tt.msg) {
				t.Errorf("got %s %q, want %s containing %q", typ, msg, tt.typ, tt.msg)
			}
		})
	}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func TestBodiesOverLambdasLimitsAreRejected(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name, method, path string
		length             int64
		typ, msg           string
	}{
		{"an invoke payload over 6 MB", "POST", "/2015-03-31/functions/fn/invocations", limits.MaxSyncPayload + 1,
			"RequestTooLargeException", "Request must be smaller than 6291456 bytes for the InvokeFunction operation"},
		{"a create request over Lambda's zip limit", "POST", "/2015-03-31/functions", limits.MaxCodeRequest + 1,
			"RequestEntityTooLargeException", "Request must be smaller than 69905067 bytes for the CreateFunction operation"},
		{"a code update over Lambda's zip limit", "PUT", "/2015-03-31/functions/fn/code", limits.MaxCodeRequest + 1,
			"RequestEntityTooLargeException", "for the UpdateFunctionCode operation"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, tt.path, strings.NewReader("{}"))
			req.ContentLength = tt.length
			rec := httptest.NewRecorder()
			f.handler.ServeHTTP(rec, req)
			if rec.Code != http.StatusRequestEntityTooLarge {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			if typ, msg := wireError(t, rec); typ != tt.typ || !strings.Contains(msg, tt.msg) {
				t.Errorf("got %s %q", typ, msg)
			}
		})
	}
	t.Run("a chunked invoke payload over 6 MB", func(t *testing.T) {
		req := httptest.NewRequest("POST", "/2015-03-31/functions/fn/invocations",
			io.MultiReader(strings.NewReader(`"`), strings.NewReader(strings.Repeat("a", limits.MaxSyncPayload)), strings.NewReader(`"`)))
		req.ContentLength = -1
		rec := httptest.NewRecorder()
		f.handler.ServeHTTP(rec, req)
		if rec.Code != http.StatusRequestEntityTooLarge {
			t.Fatalf("status %d", rec.Code)
		}
	})
}

func TestInternalErrorsDoNotLeak(t *testing.T) {
	f := newFixture(t)
	f.create(t, "fn")
	f.invoker.err = errors.New("dial unix /secret/socket: connection refused")
	rec := f.do(t, "POST", "/2015-03-31/functions/fn/invocations", []byte(`{}`), nil)
	if rec.Code != 500 {
		t.Fatalf("status %d", rec.Code)
	}
	typ, msg := wireError(t, rec)
	if typ != "ServiceException" || strings.Contains(msg, "secret") {
		t.Errorf("got %s %q", typ, msg)
	}
	if id := rec.Header().Get("X-Amzn-RequestId"); id == "" || !strings.Contains(msg, "RequestId: "+id) {
		t.Errorf("the message %q does not give the request id %q the log lines carry", msg, id)
	}
	f.invoker.err = lambdaerr.New(lambdaerr.TooManyRequests, "Rate Exceeded.")
	rec = f.do(t, "POST", "/2015-03-31/functions/fn/invocations", nil, nil)
	if typ, _ := wireError(t, rec); rec.Code != 429 || typ != "TooManyRequestsException" {
		t.Errorf("an invoker's Lambda error: %d %s", rec.Code, typ)
	}
}

func TestInvokePassesTheRequestAndWritesTheResponse(t *testing.T) {
	f := newFixture(t)
	f.create(t, "fn")
	f.invoker.resp = &invoke.Response{StatusCode: 200, Payload: []byte(`{"errorMessage":"boom"}`), FunctionError: "Unhandled",
		LogResult: "bG9ncw==", ExecutedVersion: "$LATEST"}
	rec := f.do(t, "POST", "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Afn/invocations?Qualifier=%24LATEST",
		[]byte(`{"a":1}`), map[string]string{"X-Amz-Log-Type": "Tail", "X-Amz-Client-Context": "eyJjdXN0b20iOnt9fQ=="})
	if rec.Code != 200 || rec.Body.String() != `{"errorMessage":"boom"}` {
		t.Fatalf("got %d %s", rec.Code, rec.Body)
	}
	for k, want := range map[string]string{"X-Amz-Function-Error": "Unhandled", "X-Amz-Log-Result": "bG9ncw==",
		"X-Amz-Executed-Version": "$LATEST", "Content-Type": "application/json"} {
		if got := rec.Header().Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	req := f.invoker.lastRequest()
	if req.Function != "fn" || req.Qualifier != "$LATEST" ||
		req.Type != invoke.RequestResponse || !req.Tail || req.ClientContext != "eyJjdXN0b20iOnt9fQ==" ||
		string(req.Payload) != `{"a":1}` {
		t.Errorf("invoker got %+v", req)
	}
	f.invoker.resp = &invoke.Response{StatusCode: 202}
	rec = f.do(t, "POST", "/2015-03-31/functions/fn/invocations", nil, map[string]string{"X-Amz-Invocation-Type": "Event"})
	if rec.Code != 202 || f.invoker.lastRequest().Type != invoke.Event || len(f.invoker.lastRequest().Payload) != 0 {
		t.Errorf("an Event with an empty body: %d %+v", rec.Code, f.invoker.lastRequest())
	}
}

func TestCloudWatchLogsRequestsReachTheLogsHandlerAfterAuthentication(t *testing.T) {
	var got []byte
	logs := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ = io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		_, _ = w.Write([]byte(`{}`))
	})
	f := newFixture(t, api.WithLogsHandler(logs))
	rec := f.do(t, "POST", "/", []byte(`{"logGroupName":"/aws/lambda/fn"}`), map[string]string{"X-Amz-Target": "Logs_20140328.DescribeLogStreams"})
	if rec.Code != 200 || string(got) != `{"logGroupName":"/aws/lambda/fn"}` {
		t.Fatalf("logs handler: %d, got body %q", rec.Code, got)
	}
	denied := newFixture(t, api.WithLogsHandler(logs), api.WithAuthenticator(denyAll{}))
	rec = denied.do(t, "POST", "/", nil, map[string]string{"X-Amz-Target": "Logs_20140328.DescribeLogStreams"})
	if typ, _ := wireError(t, rec); rec.Code != 403 || typ != "MissingAuthenticationTokenException" {
		t.Errorf("unauthenticated logs request: %d %s", rec.Code, typ)
	}
}

type denyAll struct{}

func (denyAll) Authenticate(*http.Request, []byte) error {
	return lambdaerr.New(lambdaerr.MissingAuthenticationTok, "Missing Authentication Token")
}

func TestGetFunctionLocationServesTheZipUntilItExpires(t *testing.T) {
	now := timeAt(1_700_000_000)
	f := newFixture(t, api.WithClock(now.get))
	f.create(t, "fn")
	rec := f.do(t, "GET", "/2015-03-31/functions/fn", nil, nil)
	var out api.GetFunctionOutput
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || rec.Code != 200 {
		t.Fatalf("GetFunction: %d %v", rec.Code, err)
	}
	if out.Code.RepositoryType != "S3" || out.Configuration.FunctionName != "fn" {
		t.Fatalf("GetFunction returned %+v", out)
	}
	loc := strings.TrimPrefix(out.Code.Location, "http://example.com")
	rec = f.do(t, "GET", loc, nil, nil)
	fn, _ := f.registry.Lookup("fn")
	want, _ := f.code.Zip(context.Background(), fn.Code)
	if rec.Code != 200 || !bytes.Equal(rec.Body.Bytes(), want) {
		t.Fatalf("download: %d, %d bytes", rec.Code, rec.Body.Len())
	}
	now.add(api.CodeURLExpiry.Milliseconds()/1000 + 1)
	rec = f.do(t, "GET", loc, nil, nil)
	if typ, msg := wireError(t, rec); rec.Code != 403 || typ != "AccessDeniedException" || msg != "Request has expired" {
		t.Errorf("expired download: %d %s %q", rec.Code, typ, msg)
	}
}

func TestAccountSettingsReportLimitsAndUsage(t *testing.T) {
	f := newFixture(t)
	f.create(t, "a")
	f.create(t, "b")
	rec := f.do(t, "GET", "/2016-08-19/account-settings/", nil, nil)
	var out api.AccountSettingsOutput
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	if out.AccountLimit.CodeSizeZipped != 52428800 || out.AccountLimit.ConcurrentExecutions != 1000 ||
		out.AccountUsage.FunctionCount != 2 || out.AccountUsage.TotalCodeSize == 0 {
		t.Errorf("got %+v", out)
	}
}

func TestDeleteAnswersNoContent(t *testing.T) {
	f := newFixture(t)
	f.create(t, "fn")
	if rec := f.do(t, "DELETE", "/2015-03-31/functions/fn", nil, nil); rec.Code != 204 || rec.Body.Len() != 0 {
		t.Fatalf("delete: %d %s", rec.Code, rec.Body)
	}
	if rec := f.do(t, "GET", "/2015-03-31/functions/fn/configuration", nil, nil); rec.Code != 404 {
		t.Errorf("get after delete: %d", rec.Code)
	}
}
