package control_test

import (
	"context"
	"testing"

	"github.com/ember-serverless/ember/internal/control"
	"github.com/ember-serverless/ember/internal/control/controltest"
	"github.com/ember-serverless/ember/internal/state"
	"github.com/ember-serverless/ember/internal/state/statetest"
)

func TestTagsPolicyAndRuntimeModeSurviveARestart(t *testing.T) {
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
	waitConfig(t, r, "kept", isState(control.StateActive, ""))
	arn := r.Config().ARN("kept")
	if err := r.TagResource(ctx, arn, map[string]string{"team": "a"}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.AddPermission(ctx, &control.AddPermissionInput{FunctionName: "kept", StatementId: "all",
		Action: "lambda:InvokeFunction", Principal: "*"}); err != nil {
		t.Fatal(err)
	}
	const version = "arn:aws:lambda:us-east-1::runtime:abc"
	if _, err := r.PutRuntimeManagementConfig(ctx, "kept", "", "Manual", version); err != nil {
		t.Fatal(err)
	}
	policy, _, err := r.GetPolicy("kept", "")
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	st.Close()

	r2 := openRegistry(t, statetest.NewIn(t, dir))
	tags, err := r2.ListTags(arn)
	if err != nil || tags["team"] != "a" || len(tags) != 1 {
		t.Errorf("tags after restart %v (%v)", tags, err)
	}
	if got, _, err := r2.GetPolicy("kept", ""); err != nil || got != policy {
		t.Errorf("policy after restart %s (%v), want %s", got, err, policy)
	}
	if c, err := r2.GetRuntimeManagementConfig("kept", ""); err != nil || c.UpdateRuntimeOn != "Manual" || c.RuntimeVersionArn != version {
		t.Errorf("runtime management after restart %+v (%v)", c, err)
	}
}
