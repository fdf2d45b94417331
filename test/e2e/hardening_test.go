package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/ember-serverless/ember/internal/testenv"
	"github.com/ember-serverless/ember/internal/worker"
)

// use is what the server process holds: open descriptors and resident memory.
type use struct {
	fds   int
	rssKB int
}

func (s *emberServer) use(t *testing.T) use {
	t.Helper()
	pid := s.cmd.Process.Pid
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		testenv.Need(t, "needs /proc/PID/fd to count the server's descriptors: %v", err)
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	u := use{fds: len(fds)}
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			u.rssKB, _ = strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
		}
	}
	return u
}

// TestAFunctionAttackingItsRuntimeAPIHurtsOnlyItself runs a function that holds thousands of
// connections to its Runtime API, or sends headers that never end on hundreds, and checks that
// the server's descriptors and memory stay within the sandbox's budget while other functions'
// invokes and the API go on answering.
func TestAFunctionAttackingItsRuntimeAPIHurtsOnlyItself(t *testing.T) {
	tests := []struct {
		name  string
		op    string
		conns int
		check func(t *testing.T, before, during use)
	}{
		{name: "thousands of connections cost the server only the sandbox's budget of descriptors", op: "flood", conns: 3000,
			check: func(t *testing.T, before, during use) {
				if grown := during.fds - before.fds; grown > worker.MaxRuntimeConns+40 {
					t.Errorf("the server's descriptors grew by %d; want at most about %d", grown, worker.MaxRuntimeConns)
				}
			}},
		{name: "headers that never end on hundreds of connections leave the server's memory flat", op: "headers", conns: 300,
			check: func(t *testing.T, before, during use) {
				if grown := during.rssKB - before.rssKB; grown > 100<<10 {
					t.Errorf("the server's RSS grew by %d MB; want under 100 MB", grown>>10)
				}
			}},
	}
	s := newServer(t, t.TempDir())
	c := s.lambdaClient()
	bystander := deploy(t, c, functionSpec{fn: "echo"})
	invokeJSON(t, c, bystander, `{"warm":1}`)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			attacker := deploy(t, c, functionSpec{fn: "attack", memory: 512, timeout: 60})
			before := s.use(t)
			out := invokeJSON(t, c, attacker, fmt.Sprintf(`{"op":%q,"n":%d}`, tt.op, tt.conns))
			// The connections are held while the sandbox idles, until "release".
			during := s.use(t)
			var counts map[string]int
			if err := json.Unmarshal(out.Payload, &counts); err != nil || out.FunctionError != nil {
				t.Fatalf("the attack answered %s (%v)", out.Payload, err)
			}
			t.Logf("attack %v; server before %+v, during %+v", counts, before, during)
			if counts["dialed"] <= worker.MaxRuntimeConns {
				t.Fatalf("the attack opened only %d connections, within the budget: %v", counts["dialed"], counts)
			}
			tt.check(t, before, during)

			if out := invokeJSON(t, c, bystander, `{"still":"here"}`); !strings.Contains(string(out.Payload), "here") {
				t.Errorf("another function's warm invoke answered %s", out.Payload)
			}
			cold := deploy(t, c, functionSpec{fn: "echo"})
			if out := invokeJSON(t, c, cold, `{"cold":"start"}`); !strings.Contains(string(out.Payload), "start") {
				t.Errorf("another function's cold start answered %s", out.Payload)
			}
			if out := invokeJSON(t, c, attacker, `{"op":"release"}`); out.FunctionError != nil {
				t.Errorf("the attacking function's own next invoke failed: %s", out.Payload)
			}
		})
	}
}
