package e2e

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ember-serverless/ember/internal/testenv"
)

// cliTimeout bounds one CLI command.
const cliTimeout = 2 * time.Minute

// cliResult is what a command printed and how it exited.
type cliResult struct {
	stdout, stderr string
	code           int
}

// cleanEnv is the test's environment without AWS or Ember credentials and settings, plus extra.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "AWS_") || strings.HasPrefix(kv, "EMBER_") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

// runCommand runs bin with args and env, failing the test if it cannot be started or hangs.
func runCommand(t *testing.T, env []string, stdin string, bin string, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%s %s did not finish within %s", filepath.Base(bin), strings.Join(args, " "), cliTimeout)
	}
	r := cliResult{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("running %s: %v", bin, err)
	}
	return r
}

// ember runs the ember CLI against s with the root credentials in the environment.
func (s *emberServer) ember(t *testing.T, args ...string) cliResult {
	t.Helper()
	env := cleanEnv("EMBER_ROOT_ACCESS_KEY_ID="+rootAccessKeyID, "EMBER_ROOT_SECRET_ACCESS_KEY="+rootSecretKey, "EMBER_ENDPOINT="+s.Endpoint)
	return runCommand(t, env, "", emberBin, args...)
}

// awsCLI is /usr/bin/aws, the AWS CLI v2 CI installs.
const awsCLI = "/usr/bin/aws"

// needAWSCLI skips the test without the AWS CLI v2, or fails it under CI.
func needAWSCLI(t *testing.T) {
	t.Helper()
	testenv.NeedCommand(t, awsCLI, "awscli")
}

// aws runs the AWS CLI v2 against s with the root credentials, isolated from any user config.
func (s *emberServer) aws(t *testing.T, args ...string) cliResult {
	t.Helper()
	needAWSCLI(t)
	home := t.TempDir()
	empty := filepath.Join(home, "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	env := cleanEnv(
		"HOME="+home,
		"AWS_ACCESS_KEY_ID="+rootAccessKeyID,
		"AWS_SECRET_ACCESS_KEY="+rootSecretKey,
		"AWS_DEFAULT_REGION="+region,
		"AWS_CONFIG_FILE="+empty,
		"AWS_SHARED_CREDENTIALS_FILE="+empty,
		"AWS_PAGER=",
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_MAX_ATTEMPTS=1",
	)
	args = append(args, "--endpoint-url", s.Endpoint, "--output", "json", "--no-cli-pager")
	return runCommand(t, env, "", awsCLI, args...)
}
