package cli

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ember-serverless/ember/internal/server"
)

// fakeLambda is just enough of the Lambda API, in memory, to drive the client commands.
type fakeLambda struct {
	mu        sync.Mutex
	functions map[string]map[string]any
	uploads   map[string][]byte
}

func newFakeLambda(t *testing.T) (*fakeLambda, string) {
	f := &fakeLambda{functions: map[string]map[string]any{}, uploads: map[string][]byte{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /2015-03-31/functions/{name}/configuration", f.getConfiguration)
	mux.HandleFunc("POST /2015-03-31/functions", f.create)
	mux.HandleFunc("POST /2015-03-31/functions/{name}/invocations", f.invoke)
	mux.HandleFunc("DELETE /2015-03-31/functions/{name}", f.delete)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return f, srv.URL
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func notFound(w http.ResponseWriter) {
	w.Header().Set("X-Amzn-ErrorType", "ResourceNotFoundException")
	writeJSON(w, http.StatusNotFound, map[string]string{"Type": "User", "Message": "Function not found"})
}

func (f *fakeLambda) getConfiguration(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	cfg, ok := f.functions[r.PathValue("name")]
	if !ok {
		notFound(w)
		return
	}
	out := map[string]any{}
	for k, v := range cfg {
		out[k] = v
	}
	cfg["State"] = "Active" // Pending once, then Active
	writeJSON(w, http.StatusOK, out)
}

func (f *fakeLambda) create(w http.ResponseWriter, r *http.Request) {
	var in struct {
		FunctionName string
		Handler      string
		Runtime      string
		Code         struct{ ZipFile []byte }
		Environment  struct{ Variables map[string]string }
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	cfg := map[string]any{
		"FunctionName": in.FunctionName,
		"FunctionArn":  "arn:aws:lambda:us-east-1:000000000000:function:" + in.FunctionName,
		"Handler":      in.Handler,
		"Runtime":      in.Runtime,
		"State":        "Pending",
		"Environment":  in.Environment,
	}
	f.functions[in.FunctionName] = cfg
	f.uploads[in.FunctionName] = in.Code.ZipFile
	writeJSON(w, http.StatusCreated, cfg)
}

func (f *fakeLambda) delete(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.functions[r.PathValue("name")]; !ok {
		notFound(w)
		return
	}
	delete(f.functions, r.PathValue("name"))
	w.WriteHeader(http.StatusNoContent)
}

func (f *fakeLambda) invoke(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	switch r.PathValue("name") {
	case "echo":
		w.Header().Set("X-Amz-Executed-Version", "$LATEST")
		if r.Header.Get("X-Amz-Log-Type") == "Tail" {
			w.Header().Set("X-Amz-Log-Result", base64.StdEncoding.EncodeToString([]byte("START RequestId: 1\nEND RequestId: 1\n")))
		}
		w.Write(body)
	case "fails":
		w.Header().Set("X-Amz-Function-Error", "Unhandled")
		w.Write([]byte(`{"errorMessage":"boom","errorType":"errorString"}`))
	default:
		notFound(w)
	}
}

// run runs the ember command line against endpoint and returns its exit status and output.
func run(t *testing.T, endpoint string, stdin string, args ...string) (int, string, string) {
	t.Helper()
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIATEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	var out, errOut bytes.Buffer
	code := Main(context.Background(), append(args, "--endpoint", endpoint), IO{In: strings.NewReader(stdin), Out: &out, Err: &errOut})
	return code, out.String(), errOut.String()
}

func TestInvokeCommand(t *testing.T) {
	_, endpoint := newFakeLambda(t)
	tests := []struct {
		name       string
		args       []string
		stdin      string
		wantCode   int
		wantOut    string
		wantErrOut string
	}{
		{name: "the payload is printed", args: []string{"invoke", "echo", `{"a":1}`}, wantOut: "{\"a\":1}\n"},
		{name: "no payload sends an empty object", args: []string{"invoke", "echo"}, wantOut: "{}\n"},
		{name: "a payload of - is read from standard input", args: []string{"invoke", "echo", "-"}, stdin: `{"in":true}`, wantOut: "{\"in\":true}\n"},
		{name: "--tail prints the decoded log tail to standard error", args: []string{"invoke", "echo", "--tail"}, wantOut: "{}\n", wantErrOut: "START RequestId: 1\nEND RequestId: 1\n"},
		{name: "a function error prints the payload and exits 1", args: []string{"invoke", "fails"}, wantCode: 1, wantOut: `{"errorMessage":"boom","errorType":"errorString"}` + "\n", wantErrOut: "Unhandled"},
		{name: "an unknown function exits 1 naming the error", args: []string{"invoke", "nope"}, wantCode: 1, wantErrOut: "ResourceNotFoundException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := run(t, endpoint, tt.stdin, tt.args...)
			if code != tt.wantCode {
				t.Errorf("exit = %d, want %d (stderr %q)", code, tt.wantCode, errOut)
			}
			if out != tt.wantOut {
				t.Errorf("stdout = %q, want %q", out, tt.wantOut)
			}
			if !strings.Contains(errOut, tt.wantErrOut) {
				t.Errorf("stderr = %q, want it to contain %q", errOut, tt.wantErrOut)
			}
		})
	}
}

func TestDeployCommandCreatesAFunctionFromADirectory(t *testing.T) {
	fake, endpoint := newFakeLambda(t)
	dir := filepath.Join(t.TempDir(), "hello")
	mustWrite(t, filepath.Join(dir, "bootstrap"), "#!/bin/sh\n", 0o755)

	code, out, errOut := run(t, endpoint, "", "deploy", dir, "--env", "GREETING=hi")
	if code != 0 {
		t.Fatalf("exit = %d, stderr %q", code, errOut)
	}
	if want := "arn:aws:lambda:us-east-1:000000000000:function:hello\n"; out != want {
		t.Errorf("stdout = %q, want %q", out, want)
	}
	fake.mu.Lock()
	defer fake.mu.Unlock()
	cfg := fake.functions["hello"]
	if cfg == nil {
		t.Fatal("the function was not created under the directory's name")
	}
	if cfg["Handler"] != "bootstrap" || cfg["Runtime"] != "provided.al2023" {
		t.Errorf("handler %v runtime %v, want bootstrap provided.al2023", cfg["Handler"], cfg["Runtime"])
	}
	if env := cfg["Environment"].(struct{ Variables map[string]string }); env.Variables["GREETING"] != "hi" {
		t.Errorf("environment = %v, want GREETING=hi", env.Variables)
	}
	up := fake.uploads["hello"]
	zr, err := zip.NewReader(bytes.NewReader(up), int64(len(up)))
	if err != nil {
		t.Fatal(err)
	}
	if len(zr.File) != 1 || zr.File[0].Name != "bootstrap" || zr.File[0].Mode().Perm() != 0o755 {
		t.Errorf("uploaded zip entries = %v, want bootstrap with mode 0755", zr.File)
	}
}

func TestServerCommandBuildsTheConfigFromDefaultsAndFlags(t *testing.T) {
	var got server.Config
	defer func(orig func(context.Context, server.Config, *slog.Logger, io.Writer) error) { runServer = orig }(runServer)
	runServer = func(_ context.Context, cfg server.Config, _ *slog.Logger, _ io.Writer) error {
		got = cfg
		return nil
	}
	dir := t.TempDir()
	var out bytes.Buffer
	code := Main(context.Background(), []string{"server", "--listen", "127.0.0.1:1234", "--data-dir", dir, "--isolation", "none", "--idle-timeout", "30s",
		"--metrics-listen", "127.0.0.1:9778", "--max-connections", "50"},
		IO{In: strings.NewReader(""), Out: &out, Err: &out})
	if code != 0 {
		t.Fatalf("exit = %d: %s", code, out.String())
	}
	want := server.DefaultConfig()
	want.Listen, want.DataDir, want.Isolation, want.IdleTimeout = "127.0.0.1:1234", dir, "none", 30e9
	want.MetricsListen, want.MaxConnections = "127.0.0.1:9778", 50
	if got != want {
		t.Errorf("config = %+v, want %+v", got, want)
	}
}

func TestRemoveCommandTriesEveryName(t *testing.T) {
	tests := []struct {
		name       string
		exist      []string
		args       []string
		wantCode   int
		wantLeft   []string
		wantStderr []string
	}{
		{name: "every named function is deleted", exist: []string{"a", "b", "c"}, args: []string{"a", "b", "c"},
			wantStderr: []string{"deleted a", "deleted b", "deleted c"}},
		{name: "a missing name in the middle does not stop the rest, and the exit status says it failed",
			exist: []string{"a", "c", "d"}, args: []string{"a", "b", "c"}, wantCode: 1, wantLeft: []string{"d"},
			wantStderr: []string{"deleted a", "deleting b: ", "ResourceNotFoundException", "deleted c", "1 of 3 functions not deleted"}},
		{name: "every failure is reported", exist: nil, args: []string{"x", "y"}, wantCode: 1,
			wantStderr: []string{"deleting x: ", "deleting y: ", "2 of 2 functions not deleted"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, endpoint := newFakeLambda(t)
			for _, n := range tt.exist {
				f.functions[n] = map[string]any{"FunctionName": n}
			}
			code, _, stderr := run(t, endpoint, "", append([]string{"rm"}, tt.args...)...)
			if code != tt.wantCode {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, tt.wantCode, stderr)
			}
			for _, want := range tt.wantStderr {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, stderr)
				}
			}
			var left []string
			for n := range f.functions {
				left = append(left, n)
			}
			if strings.Join(left, ",") != strings.Join(tt.wantLeft, ",") {
				t.Errorf("functions left %v, want %v", left, tt.wantLeft)
			}
		})
	}
}
