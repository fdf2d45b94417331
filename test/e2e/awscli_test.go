package e2e

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ember-serverless/ember/internal/testenv"
)

// decodeCLI parses the AWS CLI's JSON output, failing the test if the command failed.
func decodeCLI(t *testing.T, r cliResult, v any) {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("aws exited %d: %s", r.code, r.stderr)
	}
	if err := json.Unmarshal([]byte(r.stdout), v); err != nil {
		t.Fatalf("aws output is not JSON: %v\n%s", err, r.stdout)
	}
}

func TestTheAWSCLIDrivesEmber(t *testing.T) {
	needAWSCLI(t)
	s := sharedServer(t)
	dir := t.TempDir()
	zipPath := filepath.Join(dir, "echo.zip")
	if err := os.WriteFile(zipPath, functionZips["echo"], 0o644); err != nil {
		t.Fatal(err)
	}
	name := uniqueName("awscli")

	t.Run("create-function from a zip file starts Pending", func(t *testing.T) {
		var out struct{ FunctionName, State, Runtime, FunctionArn string }
		decodeCLI(t, s.aws(t, "lambda", "create-function", "--function-name", name, "--runtime", "provided.al2023",
			"--handler", "bootstrap", "--role", "arn:aws:iam::"+accountID+":role/e2e", "--zip-file", "fileb://"+zipPath), &out)
		if out.FunctionName != name || out.State != "Pending" || out.Runtime != "provided.al2023" {
			t.Errorf("create-function returned %+v", out)
		}
	})
	waitReady(t, s.lambdaClient(), name)

	t.Run("invoke with --log-type Tail writes the payload and returns the log", func(t *testing.T) {
		outFile := filepath.Join(dir, "out.json")
		var out struct {
			StatusCode      int
			ExecutedVersion string
			LogResult       string
			FunctionError   string
		}
		decodeCLI(t, s.aws(t, "lambda", "invoke", "--function-name", name, "--cli-binary-format", "raw-in-base64-out",
			"--payload", `{"from":"aws cli"}`, "--log-type", "Tail", outFile), &out)
		if out.StatusCode != 200 || out.ExecutedVersion != "$LATEST" || out.FunctionError != "" {
			t.Errorf("invoke returned %+v", out)
		}
		logs, err := base64.StdEncoding.DecodeString(out.LogResult)
		if err != nil || !strings.Contains(string(logs), "REPORT RequestId:") {
			t.Errorf("LogResult %q (%v) has no REPORT line", logs, err)
		}
		payload, _ := os.ReadFile(outFile)
		if string(payload) != `{"from":"aws cli"}` {
			t.Errorf("payload = %s", payload)
		}
	})

	t.Run("get-function and list-functions show it", func(t *testing.T) {
		var got struct {
			Configuration struct{ FunctionName string }
			Code          struct{ Location string }
		}
		decodeCLI(t, s.aws(t, "lambda", "get-function", "--function-name", name), &got)
		if got.Configuration.FunctionName != name || got.Code.Location == "" {
			t.Errorf("get-function returned %+v", got)
		}
		var list struct {
			Functions []struct{ FunctionName string }
		}
		decodeCLI(t, s.aws(t, "lambda", "list-functions"), &list)
		found := false
		for _, f := range list.Functions {
			found = found || f.FunctionName == name
		}
		if !found {
			t.Errorf("list-functions does not include %s", name)
		}
	})

	t.Run("update-function-configuration changes the memory size", func(t *testing.T) {
		var out struct {
			MemorySize       int
			LastUpdateStatus string
		}
		decodeCLI(t, s.aws(t, "lambda", "update-function-configuration", "--function-name", name, "--memory-size", "256"), &out)
		if out.MemorySize != 256 {
			t.Errorf("MemorySize = %d, want 256", out.MemorySize)
		}
		waitReady(t, s.lambdaClient(), name)
	})

	t.Run("get-account-settings answers", func(t *testing.T) {
		var out struct {
			AccountLimit struct{ CodeSizeZipped int64 }
		}
		decodeCLI(t, s.aws(t, "lambda", "get-account-settings"), &out)
		if out.AccountLimit.CodeSizeZipped != 52428800 {
			t.Errorf("CodeSizeZipped = %d", out.AccountLimit.CodeSizeZipped)
		}
	})

	t.Run("the function's logs can be read with aws logs", func(t *testing.T) {
		testenv.CheckFor(t, stateTimeout, pollStep, func() error {
			var out struct{ Events []struct{ Message string } }
			decodeCLI(t, s.aws(t, "logs", "filter-log-events", "--log-group-name", "/aws/lambda/"+name), &out)
			for _, ev := range out.Events {
				if strings.HasPrefix(ev.Message, "START RequestId:") {
					return nil
				}
			}
			return fmt.Errorf("no START line among %d events", len(out.Events))
		})
	})

	t.Run("aws logs tail prints the function's log", func(t *testing.T) {
		r := s.aws(t, "logs", "tail", "/aws/lambda/"+name, "--since", "1h", "--format", "short")
		if r.code != 0 || !strings.Contains(r.stdout, "START RequestId:") || !strings.Contains(r.stdout, "REPORT RequestId:") {
			t.Errorf("aws logs tail exited %d, printed %q: %s", r.code, r.stdout, r.stderr)
		}
	})

	t.Run("delete-function removes it and then get-function is ResourceNotFoundException", func(t *testing.T) {
		if r := s.aws(t, "lambda", "delete-function", "--function-name", name); r.code != 0 {
			t.Fatalf("delete-function exited %d: %s", r.code, r.stderr)
		}
		r := s.aws(t, "lambda", "get-function", "--function-name", name)
		if r.code == 0 || !strings.Contains(r.stderr, "ResourceNotFoundException") {
			t.Errorf("get-function after delete exited %d: %s", r.code, r.stderr)
		}
	})
}
