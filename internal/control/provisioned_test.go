package control_test

import (
	"context"
	"strings"
	"testing"

	"github.com/ember-serverless/ember/internal/control"
	"github.com/ember-serverless/ember/internal/lambdaerr"
	"github.com/ember-serverless/ember/internal/state/statetest"
)

func TestProvisionedConcurrencyFollowsLambdasRules(t *testing.T) {
	ctx := context.Background()
	st := statetest.New(t)
	r := openRegistry(t, st)
	p, err := control.OpenProvisioned(ctx, st, r)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	activeFunction(t, r, "f")
	publishVersion(t, r, "f")
	if _, err := r.CreateAlias(ctx, &control.CreateAliasInput{FunctionName: "f", Name: "live", FunctionVersion: "1"}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, q string
		n       *int
		errType lambdaerr.Type
		msg     string
	}{
		{"$LATEST is refused", "$LATEST", intp(1), lambdaerr.InvalidParameterValue, "unpublished function versions"},
		{"a missing qualifier is refused", "", intp(1), lambdaerr.InvalidParameterValue, "qualifier"},
		{"an unknown version is not found", "9", intp(1), lambdaerr.ResourceNotFound, "f:9"},
		{"zero is refused", "1", intp(0), lambdaerr.Validation, "greater than or equal to 1"},
		{"a version is provisioned", "1", intp(3), "", ""},
		{"an alias is provisioned", "live", intp(2), "", ""},
		{"past what the account leaves unreserved is refused", "1", intp(900), lambdaerr.InvalidParameterValue, "unreserved concurrency"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := p.Put(ctx, "f", tc.q, tc.n)
			if tc.errType != "" {
				if errType(err) != tc.errType || !strings.Contains(err.Error(), tc.msg) {
					t.Fatalf("got %v, want %s %q", err, tc.errType, tc.msg)
				}
				return
			}
			if err != nil || c.RequestedProvisionedConcurrentExecutions != *tc.n || c.Status != control.ProvisionedInProgress {
				t.Fatalf("got %+v, %v; want %d requested, IN_PROGRESS", c, err, *tc.n)
			}
		})
	}
	if got := p.FunctionTotal("f"); got != 5 {
		t.Errorf("f's provisioned total %d, want 5", got)
	}
	if _, err := r.PutFunctionConcurrency(ctx, "f", intp(4)); errType(err) != lambdaerr.InvalidParameterValue {
		t.Errorf("reserving less than the provisioned total: %v, want refused", err)
	}
	if _, err := r.PutFunctionConcurrency(ctx, "f", intp(5)); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Put(ctx, "f", "live", intp(3)); errType(err) != lambdaerr.InvalidParameterValue ||
		!strings.Contains(err.Error(), "reservedConcurrentExecution") {
		t.Errorf("provisioning past the reservation: %v, want refused", err)
	}
	p.SetState(func(fn, q string) control.ProvisionState {
		if q == "1" {
			return control.ProvisionState{Ready: 3}
		}
		return control.ProvisionState{Ready: 1, Failed: "no room"}
	})
	if c, err := p.Get("f", "1"); err != nil || c.Status != control.ProvisionedReady || c.AvailableProvisionedConcurrentExecutions != 3 {
		t.Errorf("Get 1: %+v, %v; want READY with 3", c, err)
	}
	if c, err := p.Get("f", "live"); err != nil || c.Status != control.ProvisionedFailed || c.StatusReason != "no room" {
		t.Errorf("Get live: %+v, %v; want FAILED", c, err)
	}
	list, _, err := p.List("f", "", 0)
	if err != nil || len(list) != 2 || !strings.HasSuffix(list[0].FunctionArn, "function:f:1") {
		t.Errorf("List: %+v, %v", list, err)
	}
	if err := p.Delete(ctx, "f", "live"); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Get("f", "live"); errType(err) != "ProvisionedConcurrencyConfigNotFoundException" {
		t.Errorf("Get after Delete: %v", err)
	}
	p.Forget(ctx, "f")
	if len(p.Targets()) != 0 {
		t.Errorf("a deleted function's configs remain: %+v", p.Targets())
	}
}
