package control_test

import (
	"context"
	"errors"
	"testing"

	"github.com/ember-serverless/ember/internal/control"
	"github.com/ember-serverless/ember/internal/control/controltest"
	"github.com/ember-serverless/ember/internal/lambdaerr"
	"github.com/ember-serverless/ember/internal/state/statetest"
)

func TestSnapStartIsKeptAndReportsItsOptimizationStatusAsTheServerCanSnapshot(t *testing.T) {
	tests := []struct {
		name       string
		serverSnap bool
		applyOn    string // "" sends no SnapStart
		want       control.SnapStartResponse
	}{
		{"a function without SnapStart reports it off", true, "", control.SnapStartResponse{ApplyOn: "None", OptimizationStatus: "Off"}},
		{"PublishedVersions on a server that snapshots is on", true, "PublishedVersions", control.SnapStartResponse{ApplyOn: "PublishedVersions", OptimizationStatus: "On"}},
		{"PublishedVersions on a server that cannot snapshot is off", false, "PublishedVersions", control.SnapStartResponse{ApplyOn: "PublishedVersions", OptimizationStatus: "Off"}},
		{"None is off", true, "None", control.SnapStartResponse{ApplyOn: "None", OptimizationStatus: "Off"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := statetest.New(t)
			r, err := control.Open(context.Background(), st, control.Config{SnapStart: tc.serverSnap}, controltest.NewCodeStore())
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			in := createInput(t, "snappy")
			if tc.applyOn != "" {
				in.SnapStart = &control.SnapStart{ApplyOn: tc.applyOn}
			}
			f, err := r.Create(context.Background(), in)
			if err != nil {
				t.Fatal(err)
			}
			if got := *f.Config.SnapStart; got != tc.want {
				t.Errorf("Create returned SnapStart %+v, want %+v", got, tc.want)
			}
			waitConfig(t, r, "snappy", isState(control.StateActive, ""))
			// From the stored record, as a restarted server reads it.
			r2, err := control.Open(context.Background(), st, control.Config{SnapStart: tc.serverSnap}, controltest.NewCodeStore())
			if err != nil {
				t.Fatal(err)
			}
			defer r2.Close()
			waitConfig(t, r2, "snappy", isPresent)
			g, _ := r2.Lookup("snappy")
			if got := *g.Config.SnapStart; got != tc.want {
				t.Errorf("the stored function has SnapStart %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestSnapStartCanBeTurnedOnByAnUpdateAndRefusesAnUnknownApplyOn(t *testing.T) {
	r, err := control.Open(context.Background(), statetest.New(t), control.Config{SnapStart: true}, controltest.NewCodeStore())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	in := createInput(t, "snappy")
	in.SnapStart = &control.SnapStart{ApplyOn: "Always"}
	_, err = r.Create(context.Background(), in)
	var le *lambdaerr.Error
	if !errors.As(err, &le) || le.Type != lambdaerr.Validation {
		t.Fatalf("Create with ApplyOn Always = %v, want ValidationException", err)
	}
	if _, err := r.Create(context.Background(), createInput(t, "snappy")); err != nil {
		t.Fatal(err)
	}
	waitConfig(t, r, "snappy", isState(control.StateActive, ""))
	f, err := r.UpdateConfiguration(context.Background(), &control.UpdateFunctionConfigurationInput{
		FunctionName: "snappy", SnapStart: &control.SnapStart{ApplyOn: "PublishedVersions"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := *f.Config.SnapStart; got != (control.SnapStartResponse{ApplyOn: "PublishedVersions", OptimizationStatus: "On"}) {
		t.Errorf("after the update SnapStart is %+v", got)
	}
}
