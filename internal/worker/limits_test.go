package worker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ember-serverless/ember/internal/invoke"
	"github.com/ember-serverless/ember/internal/limits"
	"github.com/ember-serverless/ember/internal/testenv"
	"github.com/ember-serverless/ember/internal/worker"
)

// serverUse is what the test process, which serves every sandbox's Runtime API, holds.
type serverUse struct {
	fds  int
	heap uint64 // live heap bytes after a collection
}

func measure(t *testing.T) serverUse {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		testenv.Need(t, "needs /proc/self/fd to count the server's descriptors: %v", err)
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return serverUse{fds: len(fds), heap: ms.HeapAlloc}
}

func TestAFunctionCannotExhaustTheServerThroughItsRuntimeAPI(t *testing.T) {
	tests := []struct {
		name  string
		op    string
		conns int
		check func(t *testing.T, before, during serverUse)
	}{
		{
			name: "a function holding thousands of connections holds only its budget of the server's descriptors",
			op:   "flood", conns: 3000,
			check: func(t *testing.T, before, during serverUse) {
				if grown := during.fds - before.fds; grown > worker.MaxRuntimeConns+40 {
					t.Errorf("the server's open descriptors grew by %d while the function held its connections; want at most about %d",
						grown, worker.MaxRuntimeConns)
				}
			},
		},
		{
			name: "a function sending headers that never end on hundreds of connections leaves the server's memory flat",
			op:   "headers", conns: 300,
			check: func(t *testing.T, before, during serverUse) {
				if during.heap > before.heap && during.heap-before.heap > 64<<20 {
					t.Errorf("the server's live heap grew by %d MB while the function held its headers; want under 64 MB",
						(during.heap-before.heap)>>20)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			attacker, _ := newSandbox(t, 2*time.Minute, nil)
			bystander, _ := newSandbox(t, 2*time.Minute, nil)
			invokeIn(t, bystander, `{"op":"echo","text":"warm"}`, false)
			dir := t.TempDir()
			before := measure(t)

			type outcome struct {
				res *invoke.Result
				err error
			}
			done := make(chan outcome, 1)
			go func() {
				payload := fmt.Sprintf(`{"op":%q,"n":%d,"dir":%q}`, tt.op, tt.conns, dir)
				res, err := attacker.Invoke(context.Background(), &invoke.Invocation{RequestID: "attack-" + tt.op, Payload: []byte(payload)})
				if err == nil && res.Finish != nil {
					res.Finish()
				}
				done <- outcome{res, err}
			}()
			release := func() { os.WriteFile(filepath.Join(dir, "release"), nil, 0o644) }
			defer release()
			testenv.CheckFor(t, time.Minute, 20*time.Millisecond, func() error {
				_, err := os.Stat(filepath.Join(dir, "ready"))
				return err
			})
			during := measure(t)

			// Another function's warm sandbox answers, and a new one starts and answers.
			if res := invokeIn(t, bystander, `{"op":"echo","text":"still here"}`, false); !strings.Contains(string(res.Payload), "still here") {
				t.Errorf("another function's warm invoke during the attack answered %s", res.Payload)
			}
			cold, _ := newSandbox(t, time.Minute, nil)
			if res := invokeIn(t, cold, `{"op":"echo","text":"cold"}`, false); !strings.Contains(string(res.Payload), `"cold"`) {
				t.Errorf("another function's cold start during the attack answered %s", res.Payload)
			}
			tt.check(t, before, during)

			// Once it lets go, the attacking function's own runtime still answers.
			release()
			o := <-done
			if o.err != nil || o.res.FunctionError != "" {
				t.Fatalf("the attacking invoke: %v %s", o.err, o.res.Payload)
			}
			var counts map[string]int
			if err := json.Unmarshal(o.res.Payload, &counts); err != nil || counts["dialed"] == 0 {
				t.Fatalf("the attack opened no connection: %s", o.res.Payload)
			}
			t.Logf("attack: %v; server use before %+v, during %+v", counts, before, during)
			if res := invokeIn(t, attacker, `{"op":"echo","text":"after"}`, false); !strings.Contains(string(res.Payload), `"after"`) {
				t.Errorf("the attacking function's next invoke answered %s", res.Payload)
			}
		})
	}
}

func TestAResponseUpToLambdasLimitPassesTheBodyBudget(t *testing.T) {
	sb, _ := newSandbox(t, time.Minute, nil)
	tests := []struct {
		name      string
		size      int
		wantError string
	}{
		{name: "a response of exactly 6 MB is returned whole", size: limits.MaxSyncPayload},
		{name: "a response past 6 MB fails the invocation as Lambda's does", size: limits.MaxSyncPayload + 1,
			wantError: "Function.ResponseSizeTooLarge"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := invokeIn(t, sb, fmt.Sprintf(`{"op":"big","n":%d}`, tt.size), false)
			if string(res.ErrorType) != tt.wantError {
				t.Fatalf("error type %q, want %q (%.200s)", res.ErrorType, tt.wantError, res.Payload)
			}
			if tt.wantError == "" && len(res.Payload) != tt.size {
				t.Errorf("payload of %d bytes, want %d", len(res.Payload), tt.size)
			}
		})
	}
}
