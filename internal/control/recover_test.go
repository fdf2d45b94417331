package control_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/ember-serverless/ember/internal/control"
	"github.com/ember-serverless/ember/internal/control/controltest"
	"github.com/ember-serverless/ember/internal/lambdaerr"
	"github.com/ember-serverless/ember/internal/state/statetest"
)

// TestOpeningEndsTheCreatesAndUpdatesAStoppedServerLeftUnderWay stands in for a server killed
// after acknowledging changes: a registry that never marks anything ready writes them, and the
// next registry on the same store must end every one.
func TestOpeningEndsTheCreatesAndUpdatesAStoppedServerLeftUnderWay(t *testing.T) {
	ctx := context.Background()
	st := statetest.New(t)
	first, err := control.Open(ctx, st, control.Config{}, controltest.NewCodeStore(), control.WithManualReady())
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"created", "broken", "updated", "settled"} {
		f, err := first.Create(ctx, createInput(t, name))
		if err != nil {
			t.Fatal(err)
		}
		if name == "updated" || name == "settled" {
			if err := first.MarkReady(ctx, name, f.Config.RevisionId, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	f, err := first.UpdateCode(ctx, &control.UpdateFunctionCodeInput{FunctionName: "updated",
		ZipFile: controltest.Zip(t, map[string]string{"bootstrap": "#!/bin/sh\necho 2\n"})})
	if err != nil {
		t.Fatal(err)
	}
	if c := f.Config; c.LastUpdateStatus != control.UpdateInProgress || c.LastUpdateStatusReason != "The function is being updated." {
		t.Errorf("an update under way reads %q/%q, want InProgress/%q", c.LastUpdateStatus, c.LastUpdateStatusReason, "The function is being updated.")
	}
	settled, _ := first.Lookup("settled")
	first.Close()

	var mu sync.Mutex
	var prepared []string
	second := openRegistry(t, st, control.WithPrepare(func(_ context.Context, f *control.Function) error {
		mu.Lock()
		prepared = append(prepared, f.Name())
		mu.Unlock()
		if f.Name() == "broken" {
			return lambdaerr.New(lambdaerr.InvalidZipFile, "Could not unpack the function's code.")
		}
		return nil
	}))
	tests := []struct {
		name, function string
		done           func(c control.FunctionConfiguration) bool
	}{
		{"a create under way becomes Active", "created", func(c control.FunctionConfiguration) bool {
			return c.State == control.StateActive && c.LastUpdateStatus == control.UpdateSuccessful
		}},
		{"a create whose code does not prepare becomes Failed with the reason", "broken", func(c control.FunctionConfiguration) bool {
			return c.State == control.StateFailed && c.StateReasonCode == "InvalidZipFileException" &&
				c.StateReason == "Could not unpack the function's code."
		}},
		{"an update under way becomes Successful", "updated", func(c control.FunctionConfiguration) bool {
			return c.State == control.StateActive && c.LastUpdateStatus == control.UpdateSuccessful &&
				c.LastUpdateStatusReason == "" && c.LastUpdateStatusReasonCode == ""
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			waitConfig(t, second, tt.function, func(f *control.Function, found bool) error {
				if !found || !tt.done(f.Config) {
					return errors.New("not settled yet")
				}
				return nil
			})
		})
	}
	t.Run("a function that was not under way is left alone", func(t *testing.T) {
		if f, _ := second.Lookup("settled"); f.Config.RevisionId != settled.Config.RevisionId {
			t.Errorf("its revision changed from %s to %s", settled.Config.RevisionId, f.Config.RevisionId)
		}
		mu.Lock()
		defer mu.Unlock()
		if slices.Contains(prepared, "settled") {
			t.Errorf("it was prepared again (prepared: %v)", prepared)
		}
	})
	t.Run("a resumed update can be followed by another", func(t *testing.T) {
		_, err := second.UpdateCode(ctx, &control.UpdateFunctionCodeInput{FunctionName: "updated",
			ZipFile: controltest.Zip(t, map[string]string{"bootstrap": "#!/bin/sh\necho 3\n"})})
		if err != nil {
			t.Fatalf("the next update: %v", err)
		}
	})
}
