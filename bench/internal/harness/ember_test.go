package harness

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// fakeLambda is the part of the Lambda API a deploy uses: CreateFunction, then
// GetFunctionConfiguration reporting Pending once and then finalState.
type fakeLambda struct {
	mu         sync.Mutex
	created    map[string]any
	polls      int
	finalState string
}

func (f *fakeLambda) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/2015-03-31/functions":
		json.NewDecoder(r.Body).Decode(&f.created)
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(map[string]any{"FunctionName": f.created["FunctionName"], "State": "Pending"})
	case r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/configuration"):
		f.polls++
		state := "Pending"
		if f.polls > 1 {
			state = f.finalState
		}
		json.NewEncoder(w).Encode(map[string]any{"FunctionName": f.created["FunctionName"], "State": state})
	default:
		http.NotFound(w, r)
	}
}

func fakeEmber(t *testing.T, api http.Handler) *Ember {
	t.Helper()
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	addr := strings.TrimPrefix(srv.URL, "http://")
	cfg := EmberConfig{Creds: testCreds, Region: "us-east-1", Zip: []byte("PK"), MemorySize: 1769}
	return &Ember{cfg: cfg, addr: addr, lambda: newLambdaClient(addr, cfg),
		proc: &process{name: "fake", exited: make(chan struct{})}}
}

func TestDeploy(t *testing.T) {
	tests := []struct {
		name       string
		finalState string
		wantErr    error
	}{
		{"a function that becomes Active is deployed", "Active", nil},
		{"a function that fails is a deploy error", "Failed", ErrDeploy},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := &fakeLambda{finalState: tt.finalState}
			e := fakeEmber(t, api)
			target, err := e.Deploy(context.Background(), "bench-echo")
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Deploy error = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if want := "http://" + e.addr + "/2015-03-31/functions/bench-echo/invocations"; target.URL != want {
				t.Errorf("URL = %s, want %s", target.URL, want)
			}
			for k, want := range map[string]any{"Runtime": "provided.al2023", "Role": "arn:aws:iam::000000000000:role/bench",
				"MemorySize": float64(1769)} {
				if got := api.created[k]; got != want {
					t.Errorf("CreateFunction %s = %v, want %v", k, got, want)
				}
			}
			code, _ := api.created["Code"].(map[string]any)
			if got, want := code["ZipFile"], base64.StdEncoding.EncodeToString([]byte("PK")); got != want {
				t.Errorf("CreateFunction Code.ZipFile = %v, want %v", got, want)
			}
		})
	}
}

func TestZipBootstrapHoldsAnExecutableBootstrap(t *testing.T) {
	path := filepath.Join(t.TempDir(), "some-binary")
	if err := os.WriteFile(path, []byte("#!/bin/true\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := ZipBootstrap(path)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	if len(zr.File) != 1 || zr.File[0].Name != "bootstrap" || zr.File[0].Mode().Perm() != 0o755 {
		t.Fatalf("zip holds %v, want one executable bootstrap", zr.File)
	}
}

func TestLogFindReadsTheAddressAndTheBackendOffTheServersLog(t *testing.T) {
	tests := []struct {
		name string
		log  string
		re   *regexp.Regexp
		want string
	}{
		{"the address on the startup line is found",
			"level=WARN msg=other\nlevel=INFO msg=\"ember is serving\" endpoint=http://127.0.0.1:41234 data_dir=/d isolation=jail\n",
			servingRE, "127.0.0.1:41234"},
		{"a log without the startup line gives no address", "level=INFO msg=\"starting\" endpoint=http://127.0.0.1:1\n", servingRE, ""},
		{"the backend on the startup line is found", `level=INFO msg="ember is serving" isolation=jail region=us-east-1`, isolationRE, "jail"},
		{"a log that names no backend gives none", `level=INFO msg="ember is serving"`, isolationRE, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "ember.log")
			if err := os.WriteFile(path, []byte(tt.log), 0o644); err != nil {
				t.Fatal(err)
			}
			if got := logFind(path, tt.re); got != tt.want {
				t.Errorf("logFind = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestLogCountersReadsTheServersLogCountersFromItsMetrics(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("# HELP ember_log_events_dropped_total x\n# TYPE ember_log_events_dropped_total counter\n" +
			"ember_log_events_dropped_total 0\nember_log_events_failed_total 2\nember_log_events_spilled_total 1.5e+06\nember_throttles_total 7\n"))
	}))
	defer srv.Close()
	e := &Ember{metrics: strings.TrimPrefix(srv.URL, "http://")}
	c, err := e.LogCounters(context.Background())
	if err != nil || c != (LogCounts{Dropped: 0, Failed: 2, Spilled: 1500000}) {
		t.Fatalf("LogCounters = %+v, %v", c, err)
	}
	dir := t.TempDir()
	log := filepath.Join(dir, "ember.log")
	os.WriteFile(log, []byte("time=x level=INFO msg=\"serving metrics\" addr=127.0.0.1:4567\n"), 0o644)
	if got := logFind(log, metricsRE); got != "127.0.0.1:4567" {
		t.Fatalf("the metrics address read off the log: %q", got)
	}
	if _, err := (&Ember{}).LogCounters(context.Background()); err == nil {
		t.Fatal("LogCounters without a metrics address succeeded")
	}
}
