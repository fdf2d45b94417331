package e2e

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ember-serverless/ember/internal/runtimes"
	"github.com/ember-serverless/ember/internal/testenv"
)

// readGreeting is a custom runtime in bash (its /dev/tcp, no other tool) that answers every
// invocation with the contents of /opt/greeting.json: a function whose code reads a file a
// layer provides.
const readGreeting = `#!/bin/bash
set -e
host=${AWS_LAMBDA_RUNTIME_API%:*}
port=${AWS_LAMBDA_RUNTIME_API##*:}
while true; do
  exec 3<>/dev/tcp/$host/$port
  printf 'GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n' "$host" >&3
  id=
  while IFS= read -r line <&3; do
    line=${line%$'\r'}
    [ -z "$line" ] && break
    case "$line" in [Ll]ambda-[Rr]untime-[Aa]ws-[Rr]equest-[Ii]d:*) id=${line#*: } ;; esac
  done
  exec 3<&-
  body=$(cat /opt/greeting.json)
  exec 3<>/dev/tcp/$host/$port
  printf 'POST /2018-06-01/runtime/invocation/%s/response HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s' \
    "$id" "$host" "${#body}" "$body" >&3
  cat <&3 >/dev/null
  exec 3<&-
done
`

// layerZip writes a zip of entries into dir as name.zip and returns its fileb:// argument and
// its bytes.
func layerZip(t *testing.T, dir, name string, entries ...zipEntry) (string, []byte) {
	t.Helper()
	z, err := zipFiles(entries...)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name+".zip")
	if err := os.WriteFile(p, z, 0o644); err != nil {
		t.Fatal(err)
	}
	return "fileb://" + p, z
}

func functionBinary(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(functionDirs[name], "bootstrap"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestLayersWithTheAWSCLI publishes layers with the AWS CLI and runs functions whose runtime
// and data come from them.
func TestLayersWithTheAWSCLI(t *testing.T) {
	needAWSCLI(t)
	s := sharedServer(t)
	dir := t.TempDir()
	base := uniqueName("layer-base")
	top := uniqueName("layer-top")
	arn := func(layer, version string) string {
		return "arn:aws:lambda:" + region + ":" + accountID + ":layer:" + layer + ":" + version
	}
	role := "arn:aws:iam::" + accountID + ":role/e2e"

	// base: a bootstrap that always fails and a greeting; top: a bootstrap that echoes and
	// another greeting. Merged in that order, top's files win.
	baseZip, _ := layerZip(t, dir, "base",
		zipEntry{name: "bootstrap", mode: 0o755, body: functionBinary(t, "error")},
		zipEntry{name: "greeting.json", mode: 0o644, body: []byte(`{"from":"base"}`)})
	topZip, topBytes := layerZip(t, dir, "top",
		zipEntry{name: "bootstrap", mode: 0o755, body: functionBinary(t, "echo")},
		zipEntry{name: "greeting.json", mode: 0o644, body: []byte(`{"from":"top"}`)})

	var published struct {
		LayerArn, LayerVersionArn string
		Version                   int64
		CompatibleRuntimes        []string
		Content                   struct {
			Location, CodeSha256 string
			CodeSize             int64
		}
	}
	decodeCLI(t, s.aws(t, "lambda", "publish-layer-version", "--layer-name", base, "--zip-file", baseZip,
		"--compatible-runtimes", "provided.al2023", "--description", "fails"), &published)
	if published.Version != 1 || published.LayerVersionArn != arn(base, "1") || published.CompatibleRuntimes[0] != "provided.al2023" {
		t.Fatalf("publish-layer-version returned %+v", published)
	}
	decodeCLI(t, s.aws(t, "lambda", "publish-layer-version", "--layer-name", top, "--zip-file", topZip), &published)
	if published.Version != 1 || published.Content.CodeSize != int64(len(topBytes)) {
		t.Fatalf("publish-layer-version returned %+v", published)
	}

	t.Run("get-layer-version gives a location that downloads the archive", func(t *testing.T) {
		var got struct {
			LayerVersionArn string
			Content         struct{ Location string }
		}
		decodeCLI(t, s.aws(t, "lambda", "get-layer-version", "--layer-name", top, "--version-number", "1"), &got)
		resp, err := http.Get(got.Content.Location)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(b) != string(topBytes) {
			t.Errorf("downloading %s: %d, %d bytes", got.Content.Location, resp.StatusCode, len(b))
		}
		decodeCLI(t, s.aws(t, "lambda", "get-layer-version-by-arn", "--arn", arn(base, "1")), &got)
		if got.LayerVersionArn != arn(base, "1") {
			t.Errorf("get-layer-version-by-arn returned %+v", got)
		}
	})

	t.Run("list-layers and list-layer-versions show them", func(t *testing.T) {
		var layers struct {
			Layers []struct {
				LayerName             string
				LatestMatchingVersion struct{ Version int64 }
			}
		}
		decodeCLI(t, s.aws(t, "lambda", "list-layers", "--compatible-runtime", "provided.al2023"), &layers)
		var names []string
		for _, l := range layers.Layers {
			names = append(names, l.LayerName)
		}
		if !strings.Contains(strings.Join(names, " "), base) || strings.Contains(strings.Join(names, " "), top) {
			t.Errorf("list-layers for provided.al2023 shows %v; want %s (compatible) and not %s", names, base, top)
		}
		var versions struct{ LayerVersions []struct{ Version int64 } }
		decodeCLI(t, s.aws(t, "lambda", "list-layer-versions", "--layer-name", top), &versions)
		if len(versions.LayerVersions) != 1 || versions.LayerVersions[0].Version != 1 {
			t.Errorf("list-layer-versions shows %+v", versions)
		}
	})

	// A function with no bootstrap of its own runs /opt/bootstrap from its layers: top's.
	codeZip, _ := layerZip(t, dir, "code", zipEntry{name: "README", mode: 0o644, body: []byte("the runtime is in a layer")})
	echoFn := uniqueName("layers-echo")
	t.Run("a function runs the bootstrap its last layer provides", func(t *testing.T) {
		var out struct {
			Layers []struct {
				Arn      string
				CodeSize int64
			}
		}
		decodeCLI(t, s.aws(t, "lambda", "create-function", "--function-name", echoFn, "--runtime", "provided.al2023",
			"--handler", "bootstrap", "--role", role, "--zip-file", codeZip, "--layers", arn(base, "1"), arn(top, "1")), &out)
		if len(out.Layers) != 2 || out.Layers[1].Arn != arn(top, "1") || out.Layers[1].CodeSize != int64(len(topBytes)) {
			t.Fatalf("create-function returned Layers %+v", out.Layers)
		}
		waitReady(t, s.lambdaClient(), echoFn)
		if got := cliInvoke(t, s, dir, echoFn, `{"via":"layers"}`); got != `{"via":"layers"}` {
			t.Errorf("payload %s; want the event echoed by top's bootstrap", got)
		}
	})

	t.Run("a function reads a file its layers provide, the later layer's copy", func(t *testing.T) {
		testenv.NeedCommand(t, "/bin/bash", "bash") // the test's runtime is a bash script
		if isolation(t) == "none" {
			t.Skip("isolation=none mounts nothing: a function opening /opt/... reads the host's /opt")
		}
		readZip, _ := layerZip(t, dir, "reader", zipEntry{name: "bootstrap", mode: 0o755, body: []byte(readGreeting)})
		name := uniqueName("layers-reader")
		r := s.aws(t, "lambda", "create-function", "--function-name", name, "--runtime", "provided.al2023",
			"--handler", "bootstrap", "--role", role, "--zip-file", readZip, "--layers", arn(base, "1"), arn(top, "1"))
		if r.code != 0 {
			t.Fatalf("create-function exited %d: %s", r.code, r.stderr)
		}
		waitReady(t, s.lambdaClient(), name)
		if got := cliInvoke(t, s, dir, name, `{}`); got != `{"from":"top"}` {
			t.Errorf("payload %s; want top's /opt/greeting.json", got)
		}
		var cfg struct{ Layers []struct{ Arn string } }
		decodeCLI(t, s.aws(t, "lambda", "update-function-configuration", "--function-name", name, "--layers", arn(top, "1"), arn(base, "1")), &cfg)
		if len(cfg.Layers) != 2 || cfg.Layers[0].Arn != arn(top, "1") {
			t.Fatalf("update-function-configuration returned Layers %+v", cfg.Layers)
		}
		waitReady(t, s.lambdaClient(), name)
		if got := cliInvoke(t, s, dir, name, `{}`); got != `{"from":"base"}` {
			t.Errorf("after reordering the layers the payload is %s; want base's /opt/greeting.json", got)
		}
	})

	t.Run("a deleted layer version is gone but its functions keep running", func(t *testing.T) {
		if r := s.aws(t, "lambda", "delete-layer-version", "--layer-name", top, "--version-number", "1"); r.code != 0 {
			t.Fatalf("delete-layer-version exited %d: %s", r.code, r.stderr)
		}
		r := s.aws(t, "lambda", "get-layer-version", "--layer-name", top, "--version-number", "1")
		if r.code == 0 || !strings.Contains(r.stderr, "ResourceNotFoundException") {
			t.Errorf("get-layer-version after delete exited %d: %s", r.code, r.stderr)
		}
		r = s.aws(t, "lambda", "create-function", "--function-name", uniqueName("layers-gone"), "--runtime", "provided.al2023",
			"--handler", "bootstrap", "--role", role, "--zip-file", codeZip, "--layers", arn(top, "1"))
		if r.code == 0 || !strings.Contains(r.stderr, "InvalidParameterValueException") || !strings.Contains(r.stderr, "does not exist") {
			t.Errorf("create-function with a deleted layer version exited %d: %s", r.code, r.stderr)
		}
		// A configuration change makes the next invoke start a new sandbox from the function's
		// own copy of the layer.
		if r := s.aws(t, "lambda", "update-function-configuration", "--function-name", echoFn, "--memory-size", "256"); r.code != 0 {
			t.Fatalf("update-function-configuration exited %d: %s", r.code, r.stderr)
		}
		waitReady(t, s.lambdaClient(), echoFn)
		if got := cliInvoke(t, s, dir, echoFn, `{"still":"here"}`); got != `{"still":"here"}` {
			t.Errorf("payload %s after the layer version was deleted", got)
		}
		var fn struct {
			Configuration struct{ Layers []struct{ Arn string } }
		}
		decodeCLI(t, s.aws(t, "lambda", "get-function", "--function-name", echoFn), &fn)
		if len(fn.Configuration.Layers) != 2 || fn.Configuration.Layers[1].Arn != arn(top, "1") {
			t.Errorf("get-function shows Layers %+v", fn.Configuration.Layers)
		}
	})
}

// cliInvoke invokes name with payload through the AWS CLI and returns the response payload,
// failing the test on a function error.
func cliInvoke(t *testing.T, s *emberServer, dir, name, payload string) string {
	t.Helper()
	outFile := filepath.Join(dir, name+".out")
	var out struct {
		StatusCode    int
		FunctionError string
	}
	decodeCLI(t, s.aws(t, "lambda", "invoke", "--function-name", name, "--cli-binary-format", "raw-in-base64-out",
		"--payload", payload, outFile), &out)
	got, _ := os.ReadFile(outFile)
	if out.StatusCode != 200 || out.FunctionError != "" {
		t.Errorf("invoke %s: %+v, payload %s", name, out, got)
	}
	return string(got)
}

// TestLayersProvideNodeAndPythonDependencies runs a Node.js and a Python handler that import a
// module only a layer has, from /opt/nodejs/node_modules and /opt/python as on Lambda.
func TestLayersProvideNodeAndPythonDependencies(t *testing.T) {
	needAWSCLI(t)
	s := sharedServer(t)
	installed := runtimes.Detect(context.Background(), nil)
	tests := []struct {
		runtime, handler string
		layer, code      zipEntry
		// mapped is true when the runtime finds /opt through variables isolation=none maps.
		mapped bool
	}{
		{"nodejs20.x", "index.handler",
			zipEntry{name: "nodejs/node_modules/greeter/index.js", mode: 0o644,
				body: []byte(`module.exports.greet = (name) => "hello " + name + " from a layer";` + "\n")},
			zipEntry{name: "index.js", mode: 0o644,
				body: []byte(`const { greet } = require("greeter");` + "\n" + `exports.handler = async (event) => greet(event.name);` + "\n")},
			true},
		{"python3.11", "app.handler",
			zipEntry{name: "python/greeter.py", mode: 0o644,
				body: []byte("def greet(name):\n    return 'hello ' + name + ' from a layer'\n")},
			zipEntry{name: "app.py", mode: 0o644,
				body: []byte("import greeter\n\n\ndef handler(event, context):\n    return greeter.greet(event['name'])\n")},
			false},
	}
	for _, tt := range tests {
		t.Run(tt.runtime, func(t *testing.T) {
			if _, err := installed.Lookup(tt.runtime); err != nil {
				testenv.Need(t, "this host cannot run %s: %v", tt.runtime, err)
			}
			if !tt.mapped && isolation(t) == "none" {
				t.Skipf("isolation=none mounts nothing: %s would search the host's /opt", tt.runtime)
			}
			dir := t.TempDir()
			layerName := uniqueName("layer-" + strings.ReplaceAll(tt.runtime, ".", ""))
			layerPath, _ := layerZip(t, dir, "layer", tt.layer)
			var published struct{ LayerVersionArn string }
			decodeCLI(t, s.aws(t, "lambda", "publish-layer-version", "--layer-name", layerName, "--zip-file", layerPath,
				"--compatible-runtimes", tt.runtime), &published)
			codePath, _ := layerZip(t, dir, "code", tt.code)
			name := uniqueName(strings.ReplaceAll(tt.runtime, ".", "") + "-layer")
			if r := s.aws(t, "lambda", "create-function", "--function-name", name, "--runtime", tt.runtime,
				"--handler", tt.handler, "--role", "arn:aws:iam::"+accountID+":role/e2e", "--zip-file", codePath,
				"--layers", published.LayerVersionArn); r.code != 0 {
				t.Fatalf("create-function exited %d: %s", r.code, r.stderr)
			}
			waitReady(t, s.lambdaClient(), name)
			if got := cliInvoke(t, s, dir, name, `{"name":"Ember"}`); got != `"hello Ember from a layer"` {
				t.Errorf("payload %s; want the greeting the layer's module makes", got)
			}
		})
	}
}
