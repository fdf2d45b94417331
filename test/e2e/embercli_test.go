package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/ember-serverless/ember/internal/testenv"
)

func TestTheEmberCLI(t *testing.T) {
	s := sharedServer(t)
	name := uniqueName("cli")
	arn := "arn:aws:lambda:" + region + ":" + accountID + ":function:" + name

	t.Run("deploy creates a function from a directory and prints its ARN", func(t *testing.T) {
		r := s.ember(t, "deploy", functionDirs["echo"], "--name", name, "--env", "GREETING=hi")
		if r.code != 0 || strings.TrimSpace(r.stdout) != arn {
			t.Fatalf("deploy exited %d, printed %q: %s", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("invoke prints the payload", func(t *testing.T) {
		r := s.ember(t, "invoke", name, `{"via":"ember"}`)
		if r.code != 0 || strings.TrimSpace(r.stdout) != `{"via":"ember"}` {
			t.Errorf("invoke exited %d, printed %q: %s", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("invoke --tail prints the log tail to stderr", func(t *testing.T) {
		r := s.ember(t, "invoke", name, "--tail")
		if r.code != 0 || !strings.Contains(r.stderr, "REPORT RequestId:") {
			t.Errorf("invoke --tail exited %d, stderr %q", r.code, r.stderr)
		}
	})
	t.Run("deploy again updates the code and configuration", func(t *testing.T) {
		r := s.ember(t, "deploy", functionDirs["counter"], "--name", name, "--memory", "256")
		if r.code != 0 || strings.TrimSpace(r.stdout) != arn {
			t.Fatalf("deploy exited %d, printed %q: %s", r.code, r.stdout, r.stderr)
		}
		r = s.ember(t, "invoke", name)
		if r.code != 0 || strings.TrimSpace(r.stdout) != "1" {
			t.Errorf("invoke after redeploy exited %d, printed %q: %s", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("ls lists it", func(t *testing.T) {
		r := s.ember(t, "ls")
		if r.code != 0 || !strings.Contains(r.stdout, name) || !strings.Contains(r.stdout, "256 MB") {
			t.Errorf("ls exited %d, printed %q: %s", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("logs prints the function's log", func(t *testing.T) {
		testenv.CheckFor(t, stateTimeout, pollStep, func() error {
			if r := s.ember(t, "logs", name); r.code != 0 || !strings.Contains(r.stdout, "START RequestId:") {
				return fmt.Errorf("ember logs exited %d without a START line:\n%s%s", r.code, r.stdout, r.stderr)
			}
			return nil
		})
	})
	t.Run("logs --follow prints new invocations as they happen", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		cmd := exec.CommandContext(ctx, emberBin, "logs", name, "--follow")
		cmd.Env = cleanEnv("EMBER_ROOT_ACCESS_KEY_ID="+rootAccessKeyID, "EMBER_ROOT_SECRET_ACCESS_KEY="+rootSecretKey, "EMBER_ENDPOINT="+s.Endpoint)
		out := &testenv.Buffer{}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer cmd.Wait()
		defer cancel()
		// First the earlier invocations' logs, so the next one must come from a later poll.
		testenv.CheckFor(t, stateTimeout, pollStep, func() error { return outputHas(out, "REPORT RequestId:") })
		r := s.ember(t, "invoke", name, "--tail")
		id := regexp.MustCompile(`START RequestId: ([0-9a-f-]{36})`).FindStringSubmatch(r.stderr)
		if r.code != 0 || id == nil {
			t.Fatalf("invoke exited %d with no request id in its tail: %s", r.code, r.stderr)
		}
		testenv.CheckFor(t, stateTimeout, pollStep, func() error { return outputHas(out, "REPORT RequestId: "+id[1]) })
	})
	t.Run("invoke exits 1 when the function returns an error", func(t *testing.T) {
		errName := uniqueName("cli-error")
		if r := s.ember(t, "deploy", functionDirs["error"], "--name", errName); r.code != 0 {
			t.Fatalf("deploy exited %d: %s", r.code, r.stderr)
		}
		r := s.ember(t, "invoke", errName)
		if r.code != 1 || !strings.Contains(r.stdout, "TeapotError") {
			t.Errorf("invoke exited %d, printed %q", r.code, r.stdout)
		}
	})
	t.Run("rm deletes it, after which invoke fails", func(t *testing.T) {
		if r := s.ember(t, "rm", name); r.code != 0 {
			t.Fatalf("rm exited %d: %s", r.code, r.stderr)
		}
		r := s.ember(t, "invoke", name)
		if r.code == 0 || !strings.Contains(r.stderr, "ResourceNotFoundException") {
			t.Errorf("invoke after rm exited %d: %s", r.code, r.stderr)
		}
	})
}

func TestFirstStartGeneratesRootCredentialsTheCLIFinds(t *testing.T) {
	dataDir := t.TempDir()
	s, err := startServer(dataDir, false)
	if err != nil {
		t.Fatal(err)
	}
	s.logOnFailure(t)
	t.Cleanup(func() { s.stop() })

	path := filepath.Join(dataDir, "root-credentials.json")
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("no %s after the first start: %v", path, err)
	}
	t.Run("the ember CLI signs with the data dir's credentials", func(t *testing.T) {
		r := runCommand(t, cleanEnv(), "", emberBin, "ls", "--endpoint", s.Endpoint, "--data-dir", dataDir)
		if r.code != 0 {
			t.Errorf("ember ls exited %d: %s", r.code, r.stderr)
		}
	})
	t.Run("other keys are still refused", func(t *testing.T) {
		_, err := s.lambdaClient().ListFunctions(t.Context(), &lambda.ListFunctionsInput{})
		wantAPIError(t, err, 403, "UnrecognizedClientException")
	})
}
