package control_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ember-serverless/ember/internal/control"
	"github.com/ember-serverless/ember/internal/control/controltest"
	"github.com/ember-serverless/ember/internal/lambdaerr"
	"github.com/ember-serverless/ember/internal/state"
	"github.com/ember-serverless/ember/internal/state/statetest"
	"github.com/ember-serverless/ember/internal/testenv"
)

// activeFunction creates name and waits for it to be Active.
func activeFunction(t *testing.T, r *control.Registry, name string) {
	t.Helper()
	if _, err := r.Create(context.Background(), createInput(t, name)); err != nil {
		t.Fatal(err)
	}
	waitConfig(t, r, name, isState(control.StateActive, ""))
}

func publishVersion(t *testing.T, r *control.Registry, name string) *control.Function {
	t.Helper()
	v, err := r.PublishVersion(context.Background(), &control.PublishVersionInput{FunctionName: name})
	if err != nil {
		t.Fatalf("publish %s: %v", name, err)
	}
	return v
}

// updateCode replaces name's code with a bootstrap saying body and waits for the update.
func updateCode(t *testing.T, r *control.Registry, name, body string) {
	t.Helper()
	zip := controltest.Zip(t, map[string]string{"bootstrap": "#!/bin/sh\n" + body + "\n"})
	if _, err := r.UpdateCode(context.Background(), &control.UpdateFunctionCodeInput{FunctionName: name, ZipFile: zip}); err != nil {
		t.Fatal(err)
	}
	waitConfig(t, r, name, func(f *control.Function, found bool) error {
		if !found || f.Config.LastUpdateStatus != control.UpdateSuccessful {
			return errors.New("update not done")
		}
		return nil
	})
}

func TestPublishedVersionsAreImmutableSnapshotsNumberedOnce(t *testing.T) {
	ctx := context.Background()
	r := openRegistry(t, statetest.New(t))
	activeFunction(t, r, "pub")
	latest, _ := r.Lookup("pub")

	v1 := publishVersion(t, r, "pub")
	if v1.Config.Version != "1" || v1.Config.FunctionArn != r.Config().ARN("pub")+":1" ||
		v1.Config.CodeSha256 != latest.Config.CodeSha256 || v1.Config.State != control.StateActive {
		t.Fatalf("version 1 = %+v", v1.Config)
	}
	t.Run("publishing with nothing changed returns the last version", func(t *testing.T) {
		again := publishVersion(t, r, "pub")
		if again.Config.Version != "1" || again.Config.RevisionId != v1.Config.RevisionId {
			t.Errorf("second publish gave version %s", again.Config.Version)
		}
	})
	t.Run("a CodeSha256 that is not $LATEST's is refused", func(t *testing.T) {
		_, err := r.PublishVersion(ctx, &control.PublishVersionInput{FunctionName: "pub", CodeSha256: "nope"})
		if errType(err) != lambdaerr.InvalidParameterValue || !strings.Contains(err.Error(), "CodeSHA256 (nope)") {
			t.Errorf("got %v", err)
		}
	})
	t.Run("a stale RevisionId is refused", func(t *testing.T) {
		_, err := r.PublishVersion(ctx, &control.PublishVersionInput{FunctionName: "pub", RevisionId: "stale"})
		if errType(err) != lambdaerr.PreconditionFailed {
			t.Errorf("got %v", err)
		}
	})

	updateCode(t, r, "pub", "echo two")
	desc := "second"
	v2, err := r.PublishVersion(ctx, &control.PublishVersionInput{FunctionName: "pub", Description: &desc})
	if err != nil || v2.Config.Version != "2" || v2.Config.Description != "second" {
		t.Fatalf("version 2 = %+v, %v", v2, err)
	}
	t.Run("a version keeps its code after $LATEST's changes", func(t *testing.T) {
		got, err := r.Resolve("pub", "1")
		if err != nil || got.Config.CodeSha256 != v1.Config.CodeSha256 || got.Config.CodeSha256 == v2.Config.CodeSha256 {
			t.Errorf("version 1 now %+v (%v)", got, err)
		}
	})
	t.Run("a deleted version's number is not reused", func(t *testing.T) {
		if err := r.Delete(ctx, "pub", "2"); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Resolve("pub", "2"); errType(err) != lambdaerr.ResourceNotFound {
			t.Fatalf("deleted version resolves: %v", err)
		}
		updateCode(t, r, "pub", "echo three")
		if v := publishVersion(t, r, "pub"); v.Config.Version != "3" {
			t.Errorf("published version %s after deleting 2", v.Config.Version)
		}
	})
	t.Run("versions list $LATEST first, then by number, in pages", func(t *testing.T) {
		var got []string
		marker := ""
		for {
			page, next, err := r.ListVersions("pub", marker, 1)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range page {
				got = append(got, f.Config.Version)
			}
			if next == "" {
				break
			}
			marker = next
		}
		if strings.Join(got, ",") != "$LATEST,1,3" {
			t.Errorf("versions %v", got)
		}
	})
}

func TestPublishOnCreateAndCodeUpdatePublishesOnceReady(t *testing.T) {
	ctx := context.Background()
	r := openRegistry(t, statetest.New(t))
	in := createInput(t, "eager")
	in.Publish = true
	f, err := r.Create(ctx, in)
	if err != nil || f.Config.Version != "1" {
		t.Fatalf("create with Publish answered %+v, %v", f, err)
	}
	waitVersion(t, r, "eager", "1")
	zip := controltest.Zip(t, map[string]string{"bootstrap": "#!/bin/sh\necho 2\n"})
	f, err = r.UpdateCode(ctx, &control.UpdateFunctionCodeInput{FunctionName: "eager", ZipFile: zip, Publish: true})
	if err != nil || f.Config.Version != "2" {
		t.Fatalf("update with Publish answered %+v, %v", f, err)
	}
	v := waitVersion(t, r, "eager", "2")
	latest, _ := r.Lookup("eager")
	if v.Config.CodeSha256 != latest.Config.CodeSha256 {
		t.Errorf("version 2 has code %s, $LATEST %s", v.Config.CodeSha256, latest.Config.CodeSha256)
	}
}

func waitVersion(t *testing.T, r *control.Registry, name, v string) *control.Function {
	t.Helper()
	var f *control.Function
	waitConfig(t, r, name, func(*control.Function, bool) error {
		var err error
		f, err = r.Resolve(name, v)
		return err
	})
	return f
}

func TestAliasesFollowLambdasRules(t *testing.T) {
	ctx := context.Background()
	r := openRegistry(t, statetest.New(t))
	activeFunction(t, r, "al")
	publishVersion(t, r, "al")
	updateCode(t, r, "al", "echo two")
	publishVersion(t, r, "al")
	weights := func(v string, w float64) *control.AliasRoutingConfiguration {
		return &control.AliasRoutingConfiguration{AdditionalVersionWeights: map[string]float64{v: w}}
	}
	refused := []struct {
		name string
		in   control.CreateAliasInput
		want lambdaerr.Type
	}{
		{"an all-digit name is refused", control.CreateAliasInput{Name: "12", FunctionVersion: "1"}, lambdaerr.Validation},
		{"a missing version is not found", control.CreateAliasInput{Name: "a", FunctionVersion: "9"}, lambdaerr.ResourceNotFound},
		{"a weight over 1 is refused", control.CreateAliasInput{Name: "a", FunctionVersion: "1", RoutingConfig: weights("2", 1.5)}, lambdaerr.Validation},
		{"routing to the primary version is refused", control.CreateAliasInput{Name: "a", FunctionVersion: "1", RoutingConfig: weights("1", 0.5)}, lambdaerr.InvalidParameterValue},
		{"routing from $LATEST is refused", control.CreateAliasInput{Name: "a", FunctionVersion: "$LATEST", RoutingConfig: weights("1", 0.5)}, lambdaerr.InvalidParameterValue},
		{"routing to a missing version is not found", control.CreateAliasInput{Name: "a", FunctionVersion: "1", RoutingConfig: weights("7", 0.5)}, lambdaerr.ResourceNotFound},
	}
	for _, c := range refused {
		t.Run(c.name, func(t *testing.T) {
			c.in.FunctionName = "al"
			if _, err := r.CreateAlias(ctx, &c.in); errType(err) != c.want {
				t.Errorf("got %v, want %s", err, c.want)
			}
			if _, ok := r.Alias("al", "a"); ok {
				t.Error("a refused alias was stored")
			}
		})
	}

	a, err := r.CreateAlias(ctx, &control.CreateAliasInput{FunctionName: "al", Name: "live", FunctionVersion: "1", RoutingConfig: weights("2", 0.2)})
	if err != nil || a.Config.AliasArn != r.Config().ARN("al")+":live" || a.Config.RevisionId == "" {
		t.Fatalf("create alias: %+v, %v", a, err)
	}
	t.Run("an alias that exists is a conflict", func(t *testing.T) {
		_, err := r.CreateAlias(ctx, &control.CreateAliasInput{FunctionName: "al", Name: "live", FunctionVersion: "1"})
		if errType(err) != lambdaerr.ResourceConflict {
			t.Errorf("got %v", err)
		}
	})
	t.Run("reads through an alias see its primary version under the alias's ARN", func(t *testing.T) {
		f, err := r.Resolve("al", "live")
		if err != nil || f.Config.Version != "1" || f.Config.FunctionArn != a.Config.AliasArn {
			t.Errorf("resolve live: %+v, %v", f, err)
		}
	})
	t.Run("a version an alias routes to cannot be deleted", func(t *testing.T) {
		for _, v := range []string{"1", "2"} {
			err := r.Delete(ctx, "al", v)
			if errType(err) != lambdaerr.ResourceConflict || !strings.Contains(err.Error(), "[live]") {
				t.Errorf("delete version %s: %v", v, err)
			}
		}
	})
	t.Run("invokes split by the alias's weight", func(t *testing.T) {
		const n = 4000
		extra := 0
		for range n {
			f, err := r.ResolveName("al", "live")
			if err != nil {
				t.Fatal(err)
			}
			if f.Config.Version == "2" {
				extra++
			}
		}
		// A binomial 5-sigma bound: it fails by chance about once in 1.7 million runs.
		mean, sigma := n*0.2, math.Sqrt(n*0.2*0.8)
		if math.Abs(float64(extra)-mean) > 5*sigma {
			t.Errorf("%d of %d invokes ran version 2, want about %.0f", extra, n, mean)
		}
	})
	t.Run("an update needs the current RevisionId and moves the alias", func(t *testing.T) {
		two := "2"
		_, err := r.UpdateAlias(ctx, &control.UpdateAliasInput{FunctionName: "al", Name: "live", FunctionVersion: &two, RevisionId: "stale"})
		if errType(err) != lambdaerr.PreconditionFailed {
			t.Fatalf("stale revision: %v", err)
		}
		u, err := r.UpdateAlias(ctx, &control.UpdateAliasInput{FunctionName: "al", Name: "live", FunctionVersion: &two,
			RoutingConfig: &control.AliasRoutingConfiguration{}, RevisionId: a.Config.RevisionId})
		if err != nil || u.Config.FunctionVersion != "2" || u.Config.RoutingConfig != nil || u.Config.RevisionId == a.Config.RevisionId {
			t.Fatalf("update: %+v, %v", u, err)
		}
		if f, _ := r.ResolveName("al", "live"); f.Config.Version != "2" {
			t.Errorf("invoke through the moved alias runs %s", f.Config.Version)
		}
		if err := r.Delete(ctx, "al", "1"); err != nil {
			t.Errorf("version 1, no longer routed to: %v", err)
		}
	})
	t.Run("aliases list by name, filtered by version", func(t *testing.T) {
		if _, err := r.CreateAlias(ctx, &control.CreateAliasInput{FunctionName: "al", Name: "edge", FunctionVersion: "$LATEST"}); err != nil {
			t.Fatal(err)
		}
		all, _, err := r.ListAliases("al", "", "", 0)
		if err != nil || len(all) != 2 || all[0].Config.Name != "edge" || all[1].Config.Name != "live" {
			t.Fatalf("aliases %v (%v)", all, err)
		}
		two, _, _ := r.ListAliases("al", "2", "", 0)
		if len(two) != 1 || two[0].Config.Name != "live" {
			t.Errorf("aliases of version 2: %v", two)
		}
	})
	t.Run("deleting an alias is idempotent", func(t *testing.T) {
		for range 2 {
			if err := r.DeleteAlias(ctx, "al", "edge"); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := r.GetAlias("al", "edge"); errType(err) != lambdaerr.ResourceNotFound {
			t.Errorf("deleted alias: %v", err)
		}
	})
}

func TestVersionsAliasesAndLayerPoliciesSurviveARestart(t *testing.T) {
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
	for _, name := range []string{"kept", "gone"} {
		activeFunction(t, r, name)
		publishVersion(t, r, name)
		if _, err := r.CreateAlias(ctx, &control.CreateAliasInput{FunctionName: name, Name: "live", FunctionVersion: "1"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Delete(ctx, "gone", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Layers().Publish(ctx, &control.PublishLayerVersionInput{LayerName: "lib",
		Content: &control.LayerVersionContentInput{ZipFile: controltest.Zip(t, map[string]string{"x": "x"})}}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.Layers().AddPermission(ctx, &control.AddLayerVersionPermissionInput{LayerName: "lib", VersionNumber: 1,
		StatementId: "all", Action: "lambda:GetLayerVersion", Principal: "*"}); err != nil {
		t.Fatal(err)
	}
	layerPolicy, _, err := r.Layers().GetPolicy("lib", 1)
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	st.Close()

	r2 := openRegistry(t, statetest.NewIn(t, dir))
	if f, err := r2.Resolve("kept", "live"); err != nil || f.Config.Version != "1" {
		t.Errorf("kept:live after restart: %+v, %v", f, err)
	}
	if f, err := r2.Resolve("kept", "1"); err != nil || f.Config.FunctionArn != r2.Config().ARN("kept")+":1" {
		t.Errorf("kept:1 after restart: %+v, %v", f, err)
	}
	if got, _, err := r2.Layers().GetPolicy("lib", 1); err != nil || got != layerPolicy {
		t.Errorf("layer version policy after restart %s (%v), want %s", got, err, layerPolicy)
	}
	activeFunction(t, r2, "gone")
	if _, err := r2.Resolve("gone", "1"); errType(err) != lambdaerr.ResourceNotFound {
		t.Errorf("a new function inherits a deleted one's version: %v", err)
	}
	if _, err := r2.Resolve("gone", "live"); errType(err) != lambdaerr.ResourceNotFound {
		t.Errorf("a new function inherits a deleted one's alias: %v", err)
	}
	if v := publishVersion(t, r2, "gone"); v.Config.Version != "1" {
		t.Errorf("a new function's first version is %s", v.Config.Version)
	}
}

func TestPermissionsOnAVersionOrAliasAreTheirOwn(t *testing.T) {
	ctx := context.Background()
	r := openRegistry(t, statetest.New(t))
	activeFunction(t, r, "pol")
	v1 := publishVersion(t, r, "pol")
	if _, err := r.CreateAlias(ctx, &control.CreateAliasInput{FunctionName: "pol", Name: "live", FunctionVersion: "1"}); err != nil {
		t.Fatal(err)
	}
	arn := r.Config().ARN("pol")
	for _, q := range []string{"1", "live"} {
		t.Run("the policy of "+q+" names it and leaves the function's alone", func(t *testing.T) {
			st, err := r.AddPermission(ctx, &control.AddPermissionInput{FunctionName: "pol", Qualifier: q, StatementId: "s-" + q,
				Action: "lambda:InvokeFunction", Principal: "*"})
			if err != nil || !strings.Contains(st, `"Resource":"`+arn+":"+q+`"`) {
				t.Fatalf("AddPermission on %s: %s, %v", q, st, err)
			}
			doc, rev, err := r.GetPolicy(arn+":"+q, "")
			if err != nil || !strings.Contains(doc, `"Sid":"s-`+q+`"`) || strings.Count(doc, `"Sid"`) != 1 {
				t.Errorf("GetPolicy of %s: %s, %v", q, doc, err)
			}
			if err := r.RemovePermission(ctx, "pol", q, "s-"+q, "stale"); errType(err) != lambdaerr.PreconditionFailed {
				t.Errorf("a stale RevisionId: %v", err)
			}
			if err := r.RemovePermission(ctx, "pol", q, "s-"+q, rev); err != nil {
				t.Errorf("RemovePermission with the policy's RevisionId: %v", err)
			}
		})
	}
	if _, _, err := r.GetPolicy("pol", ""); errType(err) != lambdaerr.ResourceNotFound {
		t.Errorf("the function's own policy: %v", err)
	}
	if v, _ := r.Version("pol", "1"); v.Config.RevisionId != v1.Config.RevisionId {
		t.Error("a policy change changed the version's RevisionId, which keys its sandboxes")
	}
	_, err := r.AddPermission(ctx, &control.AddPermissionInput{FunctionName: "pol", Qualifier: "9", StatementId: "x",
		Action: "lambda:InvokeFunction", Principal: "*"})
	if errType(err) != lambdaerr.ResourceNotFound {
		t.Errorf("a permission on a missing version: %v", err)
	}
}

func TestDeletingAVersionOrAliasIsPublishedOnce(t *testing.T) {
	ctx := context.Background()
	st := statetest.New(t)
	r, other := openRegistry(t, st), openRegistry(t, st)
	var mu sync.Mutex
	seen := map[string][]string{}
	for who, reg := range map[string]*control.Registry{"own": r, "other": other} {
		reg.OnDeleteQualifier(func(name, q string) {
			mu.Lock()
			seen[who] = append(seen[who], name+":"+q)
			mu.Unlock()
		})
	}
	activeFunction(t, r, "del")
	publishVersion(t, r, "del")
	if _, err := r.CreateAlias(ctx, &control.CreateAliasInput{FunctionName: "del", Name: "live", FunctionVersion: "$LATEST"}); err != nil {
		t.Fatal(err)
	}
	waitConfig(t, other, "del", func(*control.Function, bool) error {
		if _, ok := other.Alias("del", "live"); !ok {
			return errors.New("alias not seen yet")
		}
		return nil
	})
	if err := r.Delete(ctx, "del", "1"); err != nil {
		t.Fatal(err)
	}
	if err := r.DeleteAlias(ctx, "del", "live"); err != nil {
		t.Fatal(err)
	}
	testenv.CheckFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		mu.Lock()
		defer mu.Unlock()
		for _, who := range []string{"own", "other"} {
			if got := strings.Join(seen[who], ","); got != "del:1,del:live" {
				return fmt.Errorf("%s registry saw %q", who, got)
			}
		}
		return nil
	})
}

func TestAPublishedVersionHasARuntimeUpdateModeOfItsOwn(t *testing.T) {
	ctx := context.Background()
	r := openRegistry(t, statetest.New(t))
	activeFunction(t, r, "rt")
	publishVersion(t, r, "rt")
	if _, err := r.CreateAlias(ctx, &control.CreateAliasInput{FunctionName: "rt", Name: "live", FunctionVersion: "1"}); err != nil {
		t.Fatal(err)
	}
	const runtimeARN = "arn:aws:lambda:us-east-1::runtime:0123456789abcdef"
	set, err := r.PutRuntimeManagementConfig(ctx, "rt", "1", control.RuntimeUpdateManual, runtimeARN)
	if err != nil || set.FunctionArn != r.Config().ARN("rt")+":1" || set.UpdateRuntimeOn != control.RuntimeUpdateManual {
		t.Fatalf("Put on version 1 = %+v, %v", set, err)
	}
	t.Run("the version's mode reads back with the version's ARN", func(t *testing.T) {
		got, err := r.GetRuntimeManagementConfig(r.Config().ARN("rt")+":1", "")
		if err != nil || got.UpdateRuntimeOn != control.RuntimeUpdateManual || got.RuntimeVersionArn != runtimeARN || got.FunctionArn != r.Config().ARN("rt")+":1" {
			t.Errorf("Get of version 1 = %+v, %v", got, err)
		}
	})
	t.Run("$LATEST keeps its own mode", func(t *testing.T) {
		got, err := r.GetRuntimeManagementConfig("rt", "$LATEST")
		if err != nil || got.UpdateRuntimeOn != control.RuntimeUpdateAuto || got.FunctionArn != r.Config().ARN("rt") {
			t.Errorf("Get of $LATEST = %+v, %v", got, err)
		}
	})
	for _, q := range []string{"live", "7"} {
		t.Run("a qualifier that names no version ("+q+") is not found", func(t *testing.T) {
			if _, err := r.GetRuntimeManagementConfig("rt", q); errType(err) != lambdaerr.ResourceNotFound {
				t.Errorf("Get with %s = %v, want ResourceNotFoundException", q, err)
			}
			if _, err := r.PutRuntimeManagementConfig(ctx, "rt", q, control.RuntimeUpdateAuto, ""); errType(err) != lambdaerr.ResourceNotFound {
				t.Errorf("Put with %s = %v, want ResourceNotFoundException", q, err)
			}
		})
	}
}
