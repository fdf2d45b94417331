package control_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ember-serverless/ember/internal/codestore"
	"github.com/ember-serverless/ember/internal/control"
	"github.com/ember-serverless/ember/internal/control/controltest"
	"github.com/ember-serverless/ember/internal/lambdaerr"
	"github.com/ember-serverless/ember/internal/limits"
	"github.com/ember-serverless/ember/internal/runtimes"
	"github.com/ember-serverless/ember/internal/state/statetest"
)

// functions answers ResolveName from a map, as the registry does from its cache.
type functions map[string]*control.Function

func (fs functions) ResolveName(name, qualifier string) (*control.Function, error) {
	f, ok := fs[name]
	if !ok || (qualifier != "" && qualifier != control.LatestVersion) {
		return nil, lambdaerr.NotFound("Function", name)
	}
	return f, nil
}

// unpacker unpacks an archive into a directory named by its hash, counting the unpacks.
type unpacker struct {
	root string
	mu   sync.Mutex
	n    map[string]int
	fail string // an archive whose unpacking fails
}

func (u *unpacker) Unpacked(_ context.Context, m codestore.Manifest) (string, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if m.Sha256 == u.fail {
		return "", errors.New("chunk missing")
	}
	u.n[m.Sha256]++
	return filepath.Join(u.root, m.Sha256), nil
}

func (u *unpacker) count(sha string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.n[sha]
}

// table runs provided.al2023 and nodejs22.x.
type table struct{}

func (table) Lookup(name string) (runtimes.Runtime, error) {
	switch name {
	case "provided.al2023":
		return runtimes.Runtime{Name: name, Family: runtimes.Provided}, nil
	case "nodejs22.x":
		return runtimes.Runtime{Name: name, Family: runtimes.NodeJS, Interpreter: "/usr/bin/node"}, nil
	}
	return runtimes.Runtime{}, fmt.Errorf("%s: %w", name, runtimes.ErrUnknown)
}

// code is an archive whose unpacked directory holds an executable bootstrap when withBootstrap.
func code(t *testing.T, u *unpacker, sha string, withBootstrap bool) control.Code {
	t.Helper()
	dir := filepath.Join(u.root, sha)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if withBootstrap {
		if err := os.WriteFile(filepath.Join(dir, "bootstrap"), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	m, _ := json.Marshal(codestore.Manifest{Sha256: sha})
	return control.Code{Sha256: sha, Manifest: m}
}

func function(name, runtime, revision string, c control.Code) *control.Function {
	return &control.Function{Code: c, Config: control.FunctionConfiguration{
		FunctionName: name, FunctionArn: "arn:aws:lambda:us-east-1:000000000000:function:" + name,
		Runtime: runtime, Handler: "index.handler", MemorySize: 256, Timeout: 7, RevisionId: revision,
		State: control.StateActive,
	}}
}

func newResolver(t *testing.T, fs functions) (*control.Resolver, *unpacker) {
	t.Helper()
	u := &unpacker{root: t.TempDir(), n: map[string]int{}}
	r, err := control.NewResolver(control.ResolverConfig{Functions: fs, Code: u, Runtimes: table{},
		ClientDirs: map[string]string{"nodejs22.x": "/var/runtime"}})
	if err != nil {
		t.Fatal(err)
	}
	return r, u
}

func TestAResolvedVersionIsBuiltOncePerRevision(t *testing.T) {
	ctx := context.Background()
	fs := functions{}
	r, u := newResolver(t, fs)
	fs["fn"] = function("fn", "provided.al2023", "rev-1", code(t, u, "code-a", true))

	v, err := r.Resolve(ctx, "fn", "")
	if err != nil {
		t.Fatal(err)
	}
	s := v.Sandbox
	if v.Version != "$LATEST" || s.FunctionName != "fn" || s.Version != "$LATEST" || s.MemoryMB != 256 ||
		s.Timeout != 7*time.Second || s.Handler != "index.handler" || s.CodeDir != filepath.Join(u.root, "code-a") ||
		!slices.Equal(s.Command, []string{"/var/task/bootstrap"}) {
		t.Fatalf("resolved %+v", v)
	}
	if s.EphemeralStorageMB != limits.DefaultEphemeralStorageMB {
		t.Errorf("a function without EphemeralStorage gets %d MB of /tmp, want %d", s.EphemeralStorageMB, limits.DefaultEphemeralStorageMB)
	}
	t.Run("a second invoke of the same revision finds the same version without unpacking", func(t *testing.T) {
		again, err := r.Resolve(ctx, "fn", "")
		if err != nil || again != v || u.count("code-a") != 1 {
			t.Fatalf("got %p (first %p), %v; unpacked %d times", again, v, err, u.count("code-a"))
		}
	})
	t.Run("a new revision is built afresh under a new key", func(t *testing.T) {
		fs["fn"] = function("fn", "provided.al2023", "rev-2", code(t, u, "code-b", true))
		next, err := r.Resolve(ctx, "fn", "")
		if err != nil || next.Key == v.Key || next.Sandbox.CodeDir != filepath.Join(u.root, "code-b") {
			t.Fatalf("after an update got %+v, %v", next, err)
		}
	})
	t.Run("a forgotten function is built again", func(t *testing.T) {
		before := u.count("code-b")
		r.Forget("fn")
		if _, err := r.Resolve(ctx, "fn", ""); err != nil || u.count("code-b") != before+1 {
			t.Fatalf("after Forget: %v, unpacked %d times (was %d)", err, u.count("code-b"), before)
		}
	})
}

func TestAManagedRuntimesEnvironmentYieldsToTheFunctions(t *testing.T) {
	fs := functions{}
	r, u := newResolver(t, fs)
	f := function("node", "nodejs22.x", "rev-1", code(t, u, "code-n", false))
	f.Config.Environment = &control.EnvironmentResponse{Variables: map[string]string{"NODE_PATH": "/mine", "MINE": "1"}}
	f.Config.EphemeralStorage = &control.EphemeralStorage{Size: 1024}
	fs["node"] = f
	v, err := r.Resolve(context.Background(), "node", "")
	if err != nil {
		t.Fatal(err)
	}
	env := v.Sandbox.Env
	if env["NODE_PATH"] != "/mine" || env["MINE"] != "1" || env["AWS_EXECUTION_ENV"] != "AWS_Lambda_nodejs22.x" {
		t.Errorf("environment %v: the function's own variables win, the runtime's are added", env)
	}
	if f.Config.Environment.Variables["AWS_EXECUTION_ENV"] != "" {
		t.Error("the function's own environment map was written to")
	}
	if cmd := v.Sandbox.Command; len(cmd) == 0 || cmd[0] != "/usr/bin/node" || filepath.Dir(cmd[len(cmd)-1]) != "/var/runtime" {
		t.Errorf("command %q: node running the client from the runtime's client dir", v.Sandbox.Command)
	}
	if v.Sandbox.EphemeralStorageMB != 1024 {
		t.Errorf("EphemeralStorage 1024 became %d MB", v.Sandbox.EphemeralStorageMB)
	}
}

func TestLayersAreUnpackedInTheFunctionsOrder(t *testing.T) {
	fs := functions{}
	r, u := newResolver(t, fs)
	f := function("fn", "provided.al2023", "rev-1", code(t, u, "code", true))
	f.LayerCode = []control.Code{code(t, u, "layer-2", false), code(t, u, "layer-1", false)}
	f.Config.Layers = []control.Layer{{Arn: "arn:aws:lambda:us-east-1:000000000000:layer:two:1"}, {Arn: "arn:aws:lambda:us-east-1:000000000000:layer:one:1"}}
	fs["fn"] = f
	v, err := r.Resolve(context.Background(), "fn", "")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{filepath.Join(u.root, "layer-2"), filepath.Join(u.root, "layer-1")}; !slices.Equal(v.Sandbox.LayerDirs, want) {
		t.Errorf("layer dirs %q, want %q", v.Sandbox.LayerDirs, want)
	}
	u.fail = "layer-1"
	r.Forget("fn")
	if _, err := r.Resolve(context.Background(), "fn", ""); err == nil || !contains(err.Error(), "layer:one:1") {
		t.Errorf("a layer that cannot be unpacked: %v, want an error naming its ARN", err)
	}
	if err := control.PrepareCode(u)(context.Background(), f); err == nil {
		t.Error("PrepareCode succeeded although a layer cannot be unpacked")
	}
}

func TestWhatCannotRunIsReportedAsLambdaReportsIt(t *testing.T) {
	fs := functions{}
	r, u := newResolver(t, fs)
	failed := function("failed", "provided.al2023", "rev-1", code(t, u, "c1", true))
	failed.Config.State = control.StateFailed
	fs["failed"] = failed
	fs["nobootstrap"] = function("nobootstrap", "provided.al2023", "rev-1", code(t, u, "c2", false))
	fs["cobol"] = function("cobol", "cobol85", "rev-1", code(t, u, "c3", true))
	cases := []struct {
		name, function string
		check          func(error) bool
	}{
		{"a function in state Failed is a ResourceConflict", "failed", isType(lambdaerr.ResourceConflict)},
		{"a provided runtime without bootstrap is an EntrypointError for the frontend to report", "nobootstrap",
			func(err error) bool { var ee *runtimes.EntrypointError; return errors.As(err, &ee) }},
		{"a runtime this server cannot run is an InvalidRuntime", "cobol", isType(lambdaerr.InvalidRuntime)},
		{"a missing function is the registry's ResourceNotFound", "missing", isType(lambdaerr.ResourceNotFound)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := r.Resolve(context.Background(), tc.function, ""); !tc.check(err) {
				t.Fatalf("got %v", err)
			}
		})
	}
}

func isType(typ lambdaerr.Type) func(error) bool {
	return func(err error) bool {
		var le *lambdaerr.Error
		return errors.As(err, &le) && le.Type == typ
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// The registry checks a function's runtime against the table it was given, not against
// whatever the host it runs on has installed.
func TestTheRegistryValidatesRuntimesAgainstTheTableItIsGiven(t *testing.T) {
	ctx := context.Background()
	withNode, err := control.Open(ctx, statetest.New(t), control.Config{Runtimes: table{}}, controltest.NewCodeStore())
	if err != nil {
		t.Fatal(err)
	}
	defer withNode.Close()
	in := createInput(t, "node")
	in.Runtime, in.Handler = "nodejs22.x", "index.handler"
	if _, err := withNode.Create(ctx, in); err != nil {
		t.Errorf("a runtime the table runs is refused: %v", err)
	}
	providedOnly := openRegistry(t, statetest.New(t))
	in = createInput(t, "node")
	in.Runtime, in.Handler = "nodejs22.x", "index.handler"
	if _, err := providedOnly.Create(ctx, in); errType(err) != lambdaerr.InvalidParameterValue ||
		!strings.Contains(err.Error(), "The runtime parameter of nodejs22.x is not supported by this server") {
		t.Errorf("without a table only provided runtimes run; nodejs22.x got %v", err)
	}
}
