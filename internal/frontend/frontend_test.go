package frontend_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/ember-serverless/ember/internal/frontend"
	"github.com/ember-serverless/ember/internal/invoke"
	"github.com/ember-serverless/ember/internal/lambdaerr"
	"github.com/ember-serverless/ember/internal/runtimes"
)

type resolver struct{}

func (resolver) Resolve(_ context.Context, fn, q string) (*invoke.Version, error) {
	if fn != "f" {
		return nil, lambdaerr.NotFound("Function", fn)
	}
	return &invoke.Version{Key: "k", Version: "$LATEST", Sandbox: invoke.SandboxSpec{FunctionName: fn}}, nil
}

// assigner answers with res, err; when gate is set, it holds every invoke until gate closes.
type assigner struct {
	res     *invoke.Result
	err     error
	gate    chan struct{}
	entered chan struct{}
}

func (a *assigner) Invoke(ctx context.Context, key string, cfg invoke.SandboxSpec, inv *invoke.Invocation) (*invoke.Result, error) {
	if a.gate != nil {
		a.entered <- struct{}{}
		<-a.gate
	}
	return a.res, a.err
}

func newFrontend(t *testing.T, a *assigner, limit int) *frontend.Frontend {
	t.Helper()
	f, err := frontend.New(frontend.Config{Resolver: resolver{}, Assigner: a, ConcurrencyLimit: limit})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func errType(err error) lambdaerr.Type {
	var le *lambdaerr.Error
	if errors.As(err, &le) {
		return le.Type
	}
	return ""
}

func TestInvokeTypes(t *testing.T) {
	a := &assigner{res: &invoke.Result{Payload: []byte(`"ok"`), Log: []byte("START\nEND\n")}}
	f := newFrontend(t, a, 10)
	cases := []struct {
		name    string
		req     invoke.Request
		status  int
		errType lambdaerr.Type
	}{
		{"a request-response invoke answers 200 with the payload", invoke.Request{Function: "f"}, http.StatusOK, ""},
		{"a dry run answers 204 and runs nothing", invoke.Request{Function: "f", Type: invoke.DryRun}, http.StatusNoContent, ""},
		{"an unknown function is ResourceNotFound", invoke.Request{Function: "nope"}, 0, lambdaerr.ResourceNotFound},
		{"an Event invoke is refused until the asynchronous path exists", invoke.Request{Function: "f", Type: invoke.Event}, 0, lambdaerr.InvalidParameterValue},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := f.Invoke(context.Background(), &tc.req)
			if tc.errType != "" {
				if errType(err) != tc.errType {
					t.Fatalf("got %v, want %s", err, tc.errType)
				}
				return
			}
			if err != nil || resp.StatusCode != tc.status || resp.ExecutedVersion != "$LATEST" {
				t.Fatalf("got %+v, %v; want status %d", resp, err, tc.status)
			}
		})
	}
}

func TestTailIsTheBase64OfTheLog(t *testing.T) {
	f := newFrontend(t, &assigner{res: &invoke.Result{Payload: []byte(`1`), Log: []byte("START\nEND\n")}}, 10)
	resp, err := f.Invoke(context.Background(), &invoke.Request{Function: "f", Tail: true})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := base64.StdEncoding.DecodeString(resp.LogResult); string(got) != "START\nEND\n" || resp.RequestID == "" {
		t.Errorf("LogResult %q decodes to %q; request id %q", resp.LogResult, got, resp.RequestID)
	}
	resp, _ = f.Invoke(context.Background(), &invoke.Request{Function: "f"})
	if resp.LogResult != "" {
		t.Errorf("without Tail there is no LogResult, got %q", resp.LogResult)
	}
}

func TestInvokesOverTheConcurrencyLimitAreThrottled(t *testing.T) {
	a := &assigner{res: &invoke.Result{Payload: []byte(`1`)}, gate: make(chan struct{}), entered: make(chan struct{}, 2)}
	f := newFrontend(t, a, 2)
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); f.Invoke(context.Background(), &invoke.Request{Function: "f"}) }()
	}
	<-a.entered
	<-a.entered
	_, err := f.Invoke(context.Background(), &invoke.Request{Function: "f"})
	var le *lambdaerr.Error
	if !errors.As(err, &le) || le.Type != lambdaerr.TooManyRequests || le.HTTPStatus() != http.StatusTooManyRequests ||
		le.Reason != "ConcurrentInvocationLimitExceeded" {
		t.Fatalf("the third concurrent invoke got %v, want 429 TooManyRequestsException", err)
	}
	close(a.gate)
	wg.Wait()
	a.gate = nil
	if _, err := f.Invoke(context.Background(), &invoke.Request{Function: "f"}); err != nil {
		t.Errorf("after the others finished an invoke is admitted again, got %v", err)
	}
	if f.InFlight() != 0 {
		t.Errorf("%d in flight after all finished", f.InFlight())
	}
}

func TestAMissingBootstrapIsAFunctionError(t *testing.T) {
	f := newFrontend(t, &assigner{err: &runtimes.EntrypointError{Message: "Couldn't find valid bootstrap(s)"}}, 10)
	resp, err := f.Invoke(context.Background(), &invoke.Request{Function: "f"})
	if err != nil || resp.FunctionError != invoke.FunctionErrorUnhandled || resp.StatusCode != 200 {
		t.Fatalf("got %+v, %v", resp, err)
	}
	var doc struct{ ErrorType, ErrorMessage string }
	if json.Unmarshal(resp.Payload, &doc) != nil || doc.ErrorType != string(invoke.RuntimeInvalidEntrypoint) ||
		!strings.Contains(doc.ErrorMessage, "Couldn't find valid bootstrap(s)") {
		t.Errorf("the payload is %s, want Lambda's error document for Runtime.InvalidEntrypoint", resp.Payload)
	}
}

// seenID records the request ID the worker was handed.
type seenID struct{ id string }

func (s *seenID) Invoke(_ context.Context, _ string, _ invoke.SandboxSpec, inv *invoke.Invocation) (*invoke.Result, error) {
	s.id = inv.RequestID
	return &invoke.Result{Payload: []byte(`1`)}, nil
}

func TestTheCallersRequestIDIsTheInvocations(t *testing.T) {
	a := &seenID{}
	f, err := frontend.New(frontend.Config{Resolver: resolver{}, Assigner: a})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := f.Invoke(context.Background(), &invoke.Request{Function: "f", RequestID: "given-id"})
	if err != nil || a.id != "given-id" || resp.RequestID != "given-id" {
		t.Fatalf("worker saw %q, response says %q (%v); want the caller's", a.id, resp.RequestID, err)
	}
	if resp, _ = f.Invoke(context.Background(), &invoke.Request{Function: "f"}); resp.RequestID == "" || a.id != resp.RequestID {
		t.Errorf("without one, a request ID is made and used throughout: worker %q, response %q", a.id, resp.RequestID)
	}
}

func TestAnInternalFailureIsAServiceExceptionThatRevealsNothingButTheRequestID(t *testing.T) {
	internal := errors.New("jail: sandbox 3f2a9c-internal-id: start /var/lib/ember/code/abc/bootstrap: invalid argument")
	f := newFrontend(t, &assigner{err: internal}, 10)
	_, err := f.Invoke(context.Background(), &invoke.Request{Function: "f", RequestID: "req-1"})
	if errType(err) != lambdaerr.ServiceException {
		t.Fatalf("got %v, want a ServiceException", err)
	}
	msg := err.Error()
	for _, secret := range []string{"3f2a9c-internal-id", "/var/lib/ember", "jail"} {
		if strings.Contains(msg, secret) {
			t.Errorf("the message %q reveals %q", msg, secret)
		}
	}
	if !strings.Contains(msg, "req-1") {
		t.Errorf("the message %q does not give the request id", msg)
	}
}
