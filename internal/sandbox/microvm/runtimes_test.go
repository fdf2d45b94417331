//go:build linux && amd64

package microvm

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ember-serverless/ember/internal/runtimes"
	"github.com/ember-serverless/ember/internal/sandbox"
	"github.com/ember-serverless/ember/internal/sandbox/sandboxtest"
	"github.com/ember-serverless/ember/internal/testenv"
)

// The managed runtimes run in the guest as on a host: the root image holds their interpreters'
// files, the function image their clients at /var/runtime, and a handler answers an invoke.
func TestManagedRuntimeHandlersAnswerInAMicroVM(t *testing.T) {
	shared := newTestBackend(t) // skips or fails as the other tests do
	table := runtimes.Detect(context.Background(), nil)
	handlers := map[runtimes.Family]struct{ file, code, handler string }{
		runtimes.Python: {"lambda_function.py", "def handler(event, context):\n    return {'echo': event['v'], 'rt': 'python'}\n", "lambda_function.handler"},
		runtimes.NodeJS: {"index.mjs", "export const handler = async (event) => ({echo: event.v, rt: 'node'});\n", "index.handler"},
	}
	managed := table.Managed()
	if len(managed) == 0 {
		testenv.Need(t, "the host has no Node.js or Python interpreter (Debian package python3)")
	}
	// One runtime of each family is enough: the others differ only in the interpreter.
	seen := map[runtimes.Family]bool{}
	var rts []runtimes.Runtime
	for _, rt := range managed {
		if _, ok := handlers[rt.Family]; ok && !seen[rt.Family] {
			seen[rt.Family] = true
			rts = append(rts, rt)
		}
	}
	clients, err := table.Install(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	hostPaths := map[string][]string{}
	for _, rt := range rts {
		if hostPaths[rt.Name], err = rt.HostPaths(); err != nil {
			t.Fatal(err)
		}
	}
	state := t.TempDir()
	b, err := New(Config{
		KernelDir: shared.cfg.KernelDir, AgentPath: shared.cfg.AgentPath,
		StateDir: state, CacheDir: shared.cfg.CacheDir, Accel: "tcg",
		RuntimeDirs: clients, RuntimeHostPaths: hostPaths,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, rt := range rts {
		t.Run(rt.Name, func(t *testing.T) {
			h := handlers[rt.Family]
			code := sandboxtest.CodeDir(t)
			if err := os.WriteFile(filepath.Join(code, h.file), []byte(h.code), 0o644); err != nil {
				t.Fatal(err)
			}
			cmd, err := rt.Command(code, nil, runtimes.RuntimeDir)
			if err != nil {
				t.Fatal(err)
			}
			env := []string{"PATH=/usr/local/bin:/usr/bin:/bin", "LAMBDA_TASK_ROOT=/var/task", "_HANDLER=" + h.handler,
				"AWS_LAMBDA_FUNCTION_NAME=fn", "AWS_LAMBDA_FUNCTION_VERSION=$LATEST", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256",
				"AWS_REGION=us-east-1", "LANG=C.UTF-8"}
			for k, v := range rt.Env() {
				env = append(env, k+"="+v)
			}
			r, w, _ := os.Pipe()
			out := make(chan string, 1)
			go func() { b, _ := io.ReadAll(r); out <- string(b) }()
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			sb, err := b.Create(ctx, sandbox.Spec{ID: "rt-" + strings.ReplaceAll(rt.Name, ".", "-"), Runtime: rt.Name, CodeDir: code,
				Command: cmd, Env: env, MemoryMB: 256, EphemeralStorageMB: 64, Output: w})
			if err != nil {
				w.Close()
				t.Fatal(err)
			}
			api := sandboxtest.ServeRuntimeAPI(sb.RuntimeAPI())
			defer func() {
				api.Close()
				sb.Destroy(context.Background())
				w.Close()
			}()
			if err := sb.Start(ctx); err != nil {
				t.Fatal(err)
			}
			resp, err := api.Invoke(ctx, sb.Done(), []byte(`{"v":"hi"}`))
			if err != nil || resp.Error {
				sb.Destroy(context.Background())
				w.Close()
				t.Fatalf("invoke: %v %s\noutput:\n%s", err, resp.Payload, <-out)
			}
			var got struct{ Echo, Rt string }
			if err := json.Unmarshal(resp.Payload, &got); err != nil || got.Echo != "hi" {
				t.Fatalf("answer %s (%v)", resp.Payload, err)
			}
		})
	}
}
