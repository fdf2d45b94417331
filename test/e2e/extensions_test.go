package e2e

import (
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ember-serverless/ember/internal/testenv"
)

// buildExtension compiles the worker's test extension (internal/worker/testdata/ext), which
// prints every event and telemetry record it gets to stdout, each line starting "EXT ".
func buildExtension(t *testing.T) []byte {
	t.Helper()
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "ext")
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, "./internal/worker/testdata/ext")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the test extension: %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestAnExtensionFromALayerSeesEveryInvokeWithTheAWSCLI publishes a layer holding an external
// extension, runs a function with it, and reads from the function's log (where the extension
// prints) that it got each INVOKE, platform telemetry, and SHUTDOWN when the function went.
func TestAnExtensionFromALayerSeesEveryInvokeWithTheAWSCLI(t *testing.T) {
	needAWSCLI(t)
	s := sharedServer(t)
	dir := t.TempDir()
	layer := uniqueName("ext-layer")
	layerZipArg, _ := layerZip(t, dir, "ext", zipEntry{name: "extensions/e2e-ext", mode: 0o755, body: buildExtension(t)})
	var published struct{ LayerVersionArn string }
	decodeCLI(t, s.aws(t, "lambda", "publish-layer-version", "--layer-name", layer, "--zip-file", layerZipArg,
		"--compatible-runtimes", "provided.al2023"), &published)

	codeZip, _ := layerZip(t, dir, "code", zipEntry{name: "bootstrap", mode: 0o755, body: functionBinary(t, "echo")})
	name := uniqueName("ext-fn")
	r := s.aws(t, "lambda", "create-function", "--function-name", name, "--runtime", "provided.al2023",
		"--handler", "bootstrap", "--role", "arn:aws:iam::"+accountID+":role/e2e", "--zip-file", codeZip,
		"--layers", published.LayerVersionArn)
	if r.code != 0 {
		t.Fatalf("create-function exited %d: %s", r.code, r.stderr)
	}
	waitReady(t, s.lambdaClient(), name)

	startLine := regexp.MustCompile(`START RequestId: (\S+)`)
	var ids []string
	for i, payload := range []string{`{"n":1}`, `{"n":2}`} {
		outFile := filepath.Join(dir, "out")
		var out struct {
			StatusCode    int
			FunctionError string
			LogResult     string
		}
		decodeCLI(t, s.aws(t, "lambda", "invoke", "--function-name", name, "--cli-binary-format", "raw-in-base64-out",
			"--log-type", "Tail", "--payload", payload, outFile), &out)
		got, _ := os.ReadFile(outFile)
		if out.StatusCode != 200 || out.FunctionError != "" || string(got) != payload {
			t.Fatalf("invoke %d: %+v, payload %s", i+1, out, got)
		}
		tail, _ := base64.StdEncoding.DecodeString(out.LogResult)
		m := startLine.FindStringSubmatch(string(tail))
		if m == nil {
			t.Fatalf("invoke %d: no START line in the tail:\n%s", i+1, tail)
		}
		ids = append(ids, m[1])
	}

	// logHas waits until the function's log group holds every one of want.
	logHas := func(t *testing.T, want ...string) {
		t.Helper()
		testenv.CheckFor(t, stateTimeout, pollStep, func() error {
			var out struct{ Events []struct{ Message string } }
			decodeCLI(t, s.aws(t, "logs", "filter-log-events", "--log-group-name", "/aws/lambda/"+name), &out)
			var all strings.Builder
			for _, ev := range out.Events {
				all.WriteString(ev.Message + "\n")
			}
			for _, w := range want {
				if !strings.Contains(all.String(), w) {
					return fmt.Errorf("the log lacks %s:\n%s", w, all.String())
				}
			}
			return nil
		})
	}

	t.Run("the extension registered and got both INVOKE events with their request ids", func(t *testing.T) {
		arn := "arn:aws:lambda:" + region + ":" + accountID + ":function:" + name
		logHas(t, `EXT registered e2e-ext status 200`, `"functionName":"`+name+`"`,
			"EXT INVOKE "+ids[0]+" "+arn+" deadline=true", "EXT INVOKE "+ids[1]+" "+arn+" deadline=true")
	})

	t.Run("the extension got platform telemetry at its listener", func(t *testing.T) {
		logHas(t, `EXT subscribed status 200 "OK"`, "EXT telemetry platform.initStart",
			"EXT telemetry platform.start "+ids[0], "EXT telemetry platform.report "+ids[0]+" success",
			"EXT telemetry platform.start "+ids[1], "EXT telemetry platform.report "+ids[1]+" success")
	})

	t.Run("deleting the function sends the extension SHUTDOWN", func(t *testing.T) {
		if r := s.aws(t, "lambda", "delete-function", "--function-name", name); r.code != 0 {
			t.Fatalf("delete-function exited %d: %s", r.code, r.stderr)
		}
		logHas(t, "EXT SHUTDOWN spindown deadline=true")
	})
}
