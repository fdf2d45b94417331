package frontend_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"

	"github.com/ember-serverless/ember/internal/frontend"
	"github.com/ember-serverless/ember/internal/invoke"
	"github.com/ember-serverless/ember/internal/lambdaerr"
)

// anyResolver resolves every function name.
type anyResolver struct{}

func (anyResolver) Resolve(_ context.Context, fn, _ string) (*invoke.Version, error) {
	return &invoke.Version{Key: fn, Version: "$LATEST", Sandbox: invoke.SandboxSpec{FunctionName: fn}}, nil
}

// reservations is a Limits of fixed reservations.
type reservations map[string]int

func (r reservations) Reserved(fn string) (int, bool) { n, ok := r[fn]; return n, ok }
func (r reservations) ReservedTotal() int {
	t := 0
	for _, n := range r {
		t += n
	}
	return t
}

func reason(err error) string {
	var le *lambdaerr.Error
	if errors.As(err, &le) && le.Type == lambdaerr.TooManyRequests && le.HTTPStatus() == http.StatusTooManyRequests {
		return le.Reason
	}
	return ""
}

// hold starts n invokes of fn that stay in the assigner until its gate closes; wait waits
// for them.
func hold(t *testing.T, f *frontend.Frontend, a *assigner, fn string, n int) (wait func()) {
	t.Helper()
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := f.Invoke(context.Background(), &invoke.Request{Function: fn}); err != nil {
				t.Errorf("a held invoke of %s failed: %v", fn, err)
			}
		}()
		<-a.entered
	}
	return wg.Wait
}

func TestReservedConcurrencyAdmission(t *testing.T) {
	cases := []struct {
		name     string
		limit    int
		reserved reservations
		fn       string
		running  int // invokes of fn held running first
		others   int // invokes of "other" (unreserved) held running first
		want     string
	}{
		{"an invoke within the function's reservation is admitted", 1000, reservations{"r": 2}, "r", 1, 0, ""},
		{"an invoke beyond the function's reservation is throttled with the reserved reason", 1000, reservations{"r": 2}, "r", 2, 0, frontend.ReasonReserved},
		{"a reservation of zero throttles every invoke", 1000, reservations{"r": 0}, "r", 0, 0, frontend.ReasonReserved},
		{"a reserved function is admitted while the unreserved pool is full", 3, reservations{"r": 1}, "r", 0, 2, ""},
		{"an unreserved function shares the limit less every reservation", 3, reservations{"r": 1}, "u", 0, 2, frontend.ReasonAccount},
		{"an unreserved function is admitted while the pool has room", 4, reservations{"r": 1}, "u", 0, 2, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := &assigner{res: &invoke.Result{Payload: []byte(`1`)}, gate: make(chan struct{}), entered: make(chan struct{})}
			f, err := frontend.New(frontend.Config{Resolver: anyResolver{}, Assigner: a, Limits: tc.reserved, ConcurrencyLimit: tc.limit})
			if err != nil {
				t.Fatal(err)
			}
			wait := hold(t, f, a, tc.fn, tc.running)
			waitOthers := hold(t, f, a, "other", tc.others)
			done := make(chan error, 1)
			go func() {
				_, err := f.Invoke(context.Background(), &invoke.Request{Function: tc.fn})
				done <- err
			}()
			if tc.want == "" {
				<-a.entered
				close(a.gate)
				err = <-done
			} else {
				err = <-done // a throttle comes back while the others still run
				close(a.gate)
			}
			if got := reason(err); got != tc.want || (tc.want == "" && err != nil) {
				t.Errorf("got %v (reason %q), want reason %q", err, got, tc.want)
			}
			wait()
			waitOthers()
			if f.InFlight() != 0 || f.Concurrent(tc.fn) != 0 {
				t.Errorf("%d in flight (%d of %s) after all finished", f.InFlight(), f.Concurrent(tc.fn), tc.fn)
			}
		})
	}
}

func TestFunctionStatsCountInvocationsAndThrottlesByReason(t *testing.T) {
	a := &assigner{res: &invoke.Result{Payload: []byte(`1`)}}
	f, err := frontend.New(frontend.Config{Resolver: anyResolver{}, Assigner: a, Limits: reservations{"blocked": 0}})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		f.Invoke(context.Background(), &invoke.Request{Function: "blocked"})
	}
	f.Invoke(context.Background(), &invoke.Request{Function: "open"})
	a.err = &lambdaerr.Error{Type: lambdaerr.TooManyRequests, Reason: "EmberSandboxMemoryExhausted"}
	f.Invoke(context.Background(), &invoke.Request{Function: "open"})
	st := f.FunctionStats()
	if len(st) != 2 || st[0].Function != "blocked" || st[1].Function != "open" {
		t.Fatalf("stats %+v, want blocked and open", st)
	}
	if st[0].Throttles[frontend.ReasonReserved] != 2 || st[0].Invocations != 0 {
		t.Errorf("blocked: %+v, want 2 reserved throttles and no invocation", st[0])
	}
	if st[1].Invocations != 1 || st[1].Throttles["EmberSandboxMemoryExhausted"] != 1 || st[1].Concurrent != 0 {
		t.Errorf("open: %+v, want 1 invocation and 1 placement throttle", st[1])
	}
	if got := f.Stats().Throttles; got != 3 {
		t.Errorf("%d throttles in all, want 3", got)
	}
}
