package control_test

import (
	"context"
	"strings"
	"testing"

	"github.com/ember-serverless/ember/internal/control"
	"github.com/ember-serverless/ember/internal/control/controltest"
	"github.com/ember-serverless/ember/internal/lambdaerr"
	"github.com/ember-serverless/ember/internal/state"
	"github.com/ember-serverless/ember/internal/state/statetest"
)

func intp(n int) *int { return &n }

func TestReservedConcurrencyFollowsLambdasRules(t *testing.T) {
	ctx := context.Background()
	r, err := control.Open(ctx, statetest.New(t), control.Config{ConcurrencyLimit: 300}, controltest.NewCodeStore())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	for _, name := range []string{"a", "b"} {
		if _, err := r.Create(ctx, createInput(t, name)); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name    string
		fn      string
		n       *int
		errType lambdaerr.Type
		msg     string
		total   int
	}{
		{"a reservation is kept", "a", intp(150), "", "", 150},
		{"a reservation leaving fewer than 100 unreserved is refused", "b", intp(51), lambdaerr.InvalidParameterValue,
			"decreases account's UnreservedConcurrentExecution below its minimum value of [100]", 150},
		{"a reservation leaving exactly 100 unreserved is kept", "b", intp(50), "", "", 200},
		{"a function's own reservation is replaced, not added to", "a", intp(140), "", "", 190},
		{"a negative reservation is refused", "a", intp(-1), lambdaerr.Validation, "greater than or equal to 0", 190},
		{"a missing reservation is refused", "a", nil, lambdaerr.InvalidParameterValue, "Member must not be null", 190},
		{"zero is a reservation", "a", intp(0), "", "", 50},
		{"an unknown function is not found", "nope", intp(1), lambdaerr.ResourceNotFound, "Function not found", 50},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := r.PutFunctionConcurrency(ctx, tc.fn, tc.n)
			if errType(err) != tc.errType || (tc.msg != "" && !strings.Contains(err.Error(), tc.msg)) {
				t.Fatalf("got %v, want %s %q", err, tc.errType, tc.msg)
			}
			if got := r.ReservedTotal(); got != tc.total {
				t.Errorf("%d reserved in all, want %d", got, tc.total)
			}
			if got := r.UnreservedConcurrency(); got != 300-tc.total {
				t.Errorf("%d unreserved, want %d", got, 300-tc.total)
			}
		})
	}
	if n, ok := r.Reserved("a"); !ok || n != 0 {
		t.Errorf("a's reservation %d, %v; want 0", n, ok)
	}
	if err := r.DeleteFunctionConcurrency(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if _, ok := r.Reserved("a"); ok || r.ReservedTotal() != 50 {
		t.Errorf("after delete a still has a reservation, or the total is %d, want 50", r.ReservedTotal())
	}
	if c, err := r.GetFunctionConcurrency("a"); err != nil || c.ReservedConcurrentExecutions != nil {
		t.Errorf("GetFunctionConcurrency after delete: %+v, %v; want empty", c, err)
	}
	if err := r.DeleteFunctionConcurrency(ctx, "a"); err != nil {
		t.Errorf("deleting an absent reservation: %v, want nothing", err)
	}
	if err := r.Delete(ctx, "b", ""); err != nil {
		t.Fatal(err)
	}
	if r.ReservedTotal() != 0 {
		t.Errorf("a deleted function's reservation still counts: %d", r.ReservedTotal())
	}
}

func TestAReservationSurvivesARestart(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	st, err := state.Open(ctx, state.Config{DataDir: dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := control.Open(ctx, st, control.Config{}, controltest.NewCodeStore())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Create(ctx, createInput(t, "kept")); err != nil {
		t.Fatal(err)
	}
	if _, err := r.PutFunctionConcurrency(ctx, "kept", intp(7)); err != nil {
		t.Fatal(err)
	}
	r.Close()
	st.Close()
	r2 := openRegistry(t, statetest.NewIn(t, dir))
	if n, ok := r2.Reserved("kept"); !ok || n != 7 || r2.ReservedTotal() != 7 {
		t.Errorf("after restart: reserved %d, %v, total %d; want 7", n, ok, r2.ReservedTotal())
	}
}
