package control_test

import (
	"context"
	"errors"
	"fmt"
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

const role = "arn:aws:iam::000000000000:role/lambda-role"

func openRegistry(t *testing.T, st *state.State, opts ...control.Option) *control.Registry {
	t.Helper()
	r, err := control.Open(context.Background(), st, control.Config{}, controltest.NewCodeStore(), opts...)
	if err != nil {
		t.Fatalf("open registry: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func createInput(t *testing.T, name string) *control.CreateFunctionInput {
	return &control.CreateFunctionInput{
		FunctionName: name,
		Runtime:      "provided.al2023",
		Role:         role,
		Handler:      "bootstrap",
		Code:         &control.FunctionCode{ZipFile: controltest.Zip(t, map[string]string{"bootstrap": "#!/bin/sh\n"})},
	}
}

func errType(err error) lambdaerr.Type {
	var le *lambdaerr.Error
	if errors.As(err, &le) {
		return le.Type
	}
	return ""
}

// waitConfig polls r's cache until name's configuration satisfies ok, which says what it lacks.
func waitConfig(t *testing.T, r *control.Registry, name string, ok func(f *control.Function, found bool) error) {
	t.Helper()
	testenv.CheckFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		f, found := r.Lookup(name)
		if err := ok(f, found); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		return nil
	})
}

// isState is a waitConfig condition: the function is in state (and its reason code is code,
// unless code is empty).
func isState(state, code string) func(*control.Function, bool) error {
	return func(f *control.Function, found bool) error {
		switch {
		case !found:
			return errors.New("not in the cache")
		case f.Config.State != state || code != "" && f.Config.StateReasonCode != code:
			return fmt.Errorf("state %q (%q), want %q (%q)", f.Config.State, f.Config.StateReasonCode, state, code)
		}
		return nil
	}
}

// isPresent is a waitConfig condition: the function is in the cache.
func isPresent(_ *control.Function, found bool) error {
	if !found {
		return errors.New("not in the cache")
	}
	return nil
}

// isUpdated is a waitConfig condition: the function's last update succeeded.
func isUpdated(f *control.Function, found bool) error {
	switch {
	case !found:
		return errors.New("not in the cache")
	case f.Config.LastUpdateStatus != control.UpdateSuccessful:
		return fmt.Errorf("last update %q, want %q", f.Config.LastUpdateStatus, control.UpdateSuccessful)
	}
	return nil
}

func TestCreateReturnsPendingThenTheFunctionBecomesActive(t *testing.T) {
	r := openRegistry(t, statetest.New(t))
	f, err := r.Create(context.Background(), createInput(t, "hello"))
	if err != nil {
		t.Fatal(err)
	}
	c := f.Config
	if c.State != control.StatePending || c.StateReasonCode != control.ReasonCreating {
		t.Errorf("create returned state %q/%q, want Pending/Creating", c.State, c.StateReasonCode)
	}
	checks := map[string][2]any{
		"FunctionArn":      {c.FunctionArn, "arn:aws:lambda:us-east-1:000000000000:function:hello"},
		"MemorySize":       {c.MemorySize, 128},
		"Timeout":          {c.Timeout, 3},
		"EphemeralStorage": {c.EphemeralStorage.Size, 512},
		"Version":          {c.Version, "$LATEST"},
		"PackageType":      {c.PackageType, "Zip"},
		"Architectures":    {strings.Join(c.Architectures, ","), "x86_64"},
		"TracingConfig":    {c.TracingConfig.Mode, "PassThrough"},
		"LogGroup":         {c.LoggingConfig.LogGroup, "/aws/lambda/hello"},
	}
	for field, v := range checks {
		if v[0] != v[1] {
			t.Errorf("%s = %v, want %v", field, v[0], v[1])
		}
	}
	if _, err := time.Parse(control.LastModifiedLayout, c.LastModified); err != nil || !strings.HasSuffix(c.LastModified, "+0000") {
		t.Errorf("LastModified %q is not in Lambda's format: %v", c.LastModified, err)
	}
	if len(c.CodeSha256) != 44 || c.CodeSize == 0 {
		t.Errorf("CodeSha256 %q / CodeSize %d: want base64 SHA-256 and the zip's size", c.CodeSha256, c.CodeSize)
	}
	got, err := r.Resolve("hello", "")
	if err != nil {
		t.Fatal(err)
	}
	if got.Config.State != control.StateActive || got.Config.LastUpdateStatus != control.UpdateSuccessful {
		t.Errorf("after create the function is %q/%q, want Active/Successful", got.Config.State, got.Config.LastUpdateStatus)
	}
	if got.Config.RevisionId == c.RevisionId {
		t.Error("becoming Active did not change the RevisionId")
	}
}

func TestCreatingAFunctionThatExistsIsAConflict(t *testing.T) {
	r := openRegistry(t, statetest.New(t))
	if _, err := r.Create(context.Background(), createInput(t, "dup")); err != nil {
		t.Fatal(err)
	}
	_, err := r.Create(context.Background(), createInput(t, "dup"))
	if errType(err) != lambdaerr.ResourceConflict || !strings.Contains(err.Error(), "Function already exist: dup") {
		t.Fatalf("second create: %v, want ResourceConflictException", err)
	}
}

func TestAFunctionCanBeNamedByNamePartialARNOrARN(t *testing.T) {
	r := openRegistry(t, statetest.New(t))
	if _, err := r.Create(context.Background(), createInput(t, "named")); err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{
		"named", "named:$LATEST", "000000000000:function:named",
		"arn:aws:lambda:us-east-1:000000000000:function:named",
		"arn:aws:lambda:us-east-1:000000000000:function:named:$LATEST",
	} {
		if f, err := r.Resolve(ref, ""); err != nil || f.Name() != "named" {
			t.Errorf("Resolve(%q) = %v, %v", ref, f, err)
		}
	}
	// The invoke path's API has parsed the name already: ResolveName takes it as it is.
	if f, err := r.ResolveName("named", "$LATEST"); err != nil || f.Name() != "named" {
		t.Errorf("ResolveName(named, $LATEST) = %v, %v", f, err)
	}
	for _, q := range []string{"2", "prod"} {
		if _, err := r.ResolveName("named", q); errType(err) != lambdaerr.ResourceNotFound ||
			!strings.Contains(err.Error(), "function:named:"+q) {
			t.Errorf("ResolveName(named, %s) = %v, want ResourceNotFound for the qualified ARN", q, err)
		}
	}
	if _, err := r.ResolveName("arn:aws:lambda:us-east-1:000000000000:function:named", ""); errType(err) != lambdaerr.ResourceNotFound {
		t.Errorf("ResolveName of an ARN = %v: it parses nothing, so no function has that name", err)
	}
}

func TestUpdatesRespectRevisionIdsAndUpdatesInProgress(t *testing.T) {
	ctx := context.Background()
	r := openRegistry(t, statetest.New(t), control.WithManualReady())
	f, err := r.Create(ctx, createInput(t, "fn"))
	if err != nil {
		t.Fatal(err)
	}
	mem := 256
	_, err = r.UpdateConfiguration(ctx, &control.UpdateFunctionConfigurationInput{FunctionName: "fn", MemorySize: &mem})
	if errType(err) != lambdaerr.ResourceConflict || !strings.Contains(err.Error(), "following state: Pending") {
		t.Fatalf("update of a Pending function: %v, want ResourceConflictException", err)
	}
	if err := r.MarkReady(ctx, "fn", f.Config.RevisionId, nil); err != nil {
		t.Fatal(err)
	}
	active, _ := r.Lookup("fn")
	_, err = r.UpdateConfiguration(ctx, &control.UpdateFunctionConfigurationInput{FunctionName: "fn", MemorySize: &mem, RevisionId: f.Config.RevisionId})
	if errType(err) != lambdaerr.PreconditionFailed {
		t.Fatalf("update with a stale RevisionId: %v, want PreconditionFailedException", err)
	}
	u, err := r.UpdateConfiguration(ctx, &control.UpdateFunctionConfigurationInput{FunctionName: "fn", MemorySize: &mem, RevisionId: active.Config.RevisionId})
	if err != nil {
		t.Fatal(err)
	}
	if u.Config.LastUpdateStatus != control.UpdateInProgress || u.Config.MemorySize != 256 {
		t.Errorf("update returned %q memory %d, want InProgress 256", u.Config.LastUpdateStatus, u.Config.MemorySize)
	}
	_, err = r.UpdateCode(ctx, &control.UpdateFunctionCodeInput{FunctionName: "fn", ZipFile: controltest.Zip(t, map[string]string{"bootstrap": "x"})})
	if errType(err) != lambdaerr.ResourceConflict || !strings.Contains(err.Error(), "An update is in progress for resource: arn:aws:lambda") {
		t.Fatalf("update during an update: %v, want ResourceConflictException", err)
	}
	if err := r.MarkReady(ctx, "fn", u.Config.RevisionId, errors.New("boom")); err != nil {
		t.Fatal(err)
	}
	failed, _ := r.Lookup("fn")
	if failed.Config.LastUpdateStatus != control.UpdateFailed || failed.Config.LastUpdateStatusReasonCode != control.ReasonInternalError {
		t.Errorf("after a failed prepare: %q/%q, want Failed/InternalError", failed.Config.LastUpdateStatus, failed.Config.LastUpdateStatusReasonCode)
	}
}

func TestConcurrentUpdatesLoseNothing(t *testing.T) {
	ctx := context.Background()
	r := openRegistry(t, statetest.New(t), control.WithManualReady())
	f, err := r.Create(ctx, createInput(t, "race"))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.MarkReady(ctx, "race", f.Config.RevisionId, nil); err != nil {
		t.Fatal(err)
	}
	// Every updater starts from the same state; exactly one may win, the rest must see the
	// update in progress (or the changed revision), never overwrite it.
	const n = 8
	var wg sync.WaitGroup
	results := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := fmt.Sprintf("writer %d", i)
			_, results[i] = r.UpdateConfiguration(ctx, &control.UpdateFunctionConfigurationInput{FunctionName: "race", Description: &d})
		}()
	}
	wg.Wait()
	wins := 0
	var winner string
	for i, err := range results {
		switch {
		case err == nil:
			wins++
			winner = fmt.Sprintf("writer %d", i)
		case errType(err) != lambdaerr.ResourceConflict:
			t.Errorf("writer %d: %v, want success or ResourceConflictException", i, err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d updates succeeded, want exactly 1", wins)
	}
	got, _ := r.Lookup("race")
	if got.Config.Description != winner {
		t.Errorf("stored description %q, want the winner's %q", got.Config.Description, winner)
	}
}

func TestRecordsSurviveARestart(t *testing.T) {
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
	in := createInput(t, "durable")
	in.Environment = &control.Environment{Variables: map[string]string{"GREETING": "hi"}}
	if _, err := r.Create(ctx, in); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Create(ctx, createInput(t, "gone")); err != nil {
		t.Fatal(err)
	}
	if err := r.Delete(ctx, "gone", ""); err != nil {
		t.Fatal(err)
	}
	r.Close()
	st.Close()

	r2 := openRegistry(t, statetest.NewIn(t, dir))
	f, ok := r2.Lookup("durable")
	if !ok || f.Env()["GREETING"] != "hi" || f.Config.State != control.StateActive {
		t.Fatalf("after restart: %+v, %v", f, ok)
	}
	if _, ok := r2.Lookup("gone"); ok {
		t.Error("a deleted function came back after a restart")
	}
}

func TestAChangeMadeByAnotherRegistryReachesTheCache(t *testing.T) {
	st := statetest.New(t)
	a := openRegistry(t, st)
	b := openRegistry(t, st)
	if _, err := a.Create(context.Background(), createInput(t, "shared")); err != nil {
		t.Fatal(err)
	}
	waitConfig(t, b, "shared", isState(control.StateActive, "")) // the other registry sees it Active
	if err := a.Delete(context.Background(), "shared", ""); err != nil {
		t.Fatal(err)
	}
	waitConfig(t, b, "shared", func(_ *control.Function, found bool) error { // the other registry sees the delete
		if found {
			return errors.New("still in the other registry's cache")
		}
		return nil
	})
}

func TestPrepareRunsInTheBackgroundAndItsFailureFailsTheFunction(t *testing.T) {
	release := make(chan struct{})
	r := openRegistry(t, statetest.New(t), control.WithPrepare(func(ctx context.Context, f *control.Function) error {
		<-release
		return lambdaerr.New(lambdaerr.InvalidZipFile, "bad package")
	}))
	if _, err := r.Create(context.Background(), createInput(t, "slow")); err != nil {
		t.Fatal(err)
	}
	if f, _ := r.Lookup("slow"); f.Config.State != control.StatePending {
		t.Fatalf("state before prepare ends: %q, want Pending", f.Config.State)
	}
	close(release)
	waitConfig(t, r, "slow", isState(control.StateFailed, "InvalidZipFileException"))
}

func TestListPagesInNameOrder(t *testing.T) {
	r := openRegistry(t, statetest.New(t))
	for _, n := range []string{"c", "a", "b", "d", "e"} {
		if _, err := r.Create(context.Background(), createInput(t, n)); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	marker := ""
	for pages := 0; ; pages++ {
		fs, next, err := r.List(marker, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fs {
			names = append(names, f.Name())
		}
		if next == "" {
			break
		}
		if pages > 5 {
			t.Fatal("paging does not end")
		}
		marker = next
	}
	if strings.Join(names, ",") != "a,b,c,d,e" {
		t.Errorf("listed %v", names)
	}
	if n, size := r.Usage(); n != 5 || size == 0 {
		t.Errorf("Usage() = %d, %d", n, size)
	}
	if _, _, err := r.List("!!!", 0); errType(err) != lambdaerr.InvalidParameterValue {
		t.Errorf("a bad marker: %v", err)
	}
}

func TestDeleteFollowsLambdasRules(t *testing.T) {
	ctx := context.Background()
	r := openRegistry(t, statetest.New(t))
	if _, err := r.Create(ctx, createInput(t, "del")); err != nil {
		t.Fatal(err)
	}
	if err := r.Delete(ctx, "del", "$LATEST"); errType(err) != lambdaerr.InvalidParameterValue {
		t.Errorf("deleting $LATEST alone: %v", err)
	}
	if err := r.Delete(ctx, "del", "7"); errType(err) != lambdaerr.ResourceNotFound {
		t.Errorf("deleting a version that does not exist: %v", err)
	}
	if err := r.Delete(ctx, "del", ""); err != nil {
		t.Fatal(err)
	}
	err := r.Delete(ctx, "del", "")
	if errType(err) != lambdaerr.ResourceNotFound || !errors.Is(err, control.ErrNotFound) ||
		!strings.Contains(err.Error(), "Function not found: arn:aws:lambda:us-east-1:000000000000:function:del") {
		t.Errorf("deleting twice: %v", err)
	}
	if _, err := r.Create(ctx, createInput(t, "del")); err != nil {
		t.Errorf("re-creating a deleted function: %v", err)
	}
}

func TestRejectedRequestsChangeNothing(t *testing.T) {
	ctx := context.Background()
	r := openRegistry(t, statetest.New(t))
	if _, err := r.Create(ctx, createInput(t, "keep")); err != nil {
		t.Fatal(err)
	}
	before, _ := r.Lookup("keep")
	big := 20000
	if _, err := r.UpdateConfiguration(ctx, &control.UpdateFunctionConfigurationInput{FunctionName: "keep", MemorySize: &big}); err == nil {
		t.Fatal("an out-of-range MemorySize was accepted")
	}
	if _, err := r.UpdateCode(ctx, &control.UpdateFunctionCodeInput{FunctionName: "keep", ZipFile: []byte("not a zip")}); err == nil {
		t.Fatal("a package that is not a zip was accepted")
	}
	dry, err := r.UpdateCode(ctx, &control.UpdateFunctionCodeInput{FunctionName: "keep", DryRun: true,
		ZipFile: controltest.Zip(t, map[string]string{"bootstrap": "new"})})
	if err != nil || dry.Config.CodeSha256 == before.Config.CodeSha256 {
		t.Fatalf("dry run: %v", err)
	}
	after, _ := r.Lookup("keep")
	if after.Config.RevisionId != before.Config.RevisionId || after.Config.CodeSha256 != before.Config.CodeSha256 {
		t.Error("a rejected update or a dry run changed the function")
	}
	bad := createInput(t, "never")
	bad.Runtime = "java21"
	if _, err := r.Create(ctx, bad); err == nil {
		t.Fatal("an unsupported runtime was accepted")
	}
	if _, ok := r.Lookup("never"); ok {
		t.Error("a rejected create stored the function")
	}
}
