package e2e

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/ember-serverless/ember/internal/testenv"
)

// TestTheAWSCLIReservesAndProvisionsConcurrency: parallel invokes beyond a reservation get
// 429, a reservation of 0 blocks every invoke, and provisioned concurrency reaches READY and
// its invokes are warm.
func TestTheAWSCLIReservesAndProvisionsConcurrency(t *testing.T) {
	needAWSCLI(t)
	s := sharedServer(t)
	c := s.lambdaClient()
	name := deploy(t, c, functionSpec{fn: "sleep"})
	out := filepath.Join(t.TempDir(), "out.json")
	cliInvoke := func(extra ...string) cliResult {
		args := append([]string{"lambda", "invoke", "--function-name", name, "--cli-binary-format", "raw-in-base64-out",
			"--payload", `{"ms":0}`}, extra...)
		return s.aws(t, append(args, out)...)
	}

	t.Run("parallel invokes beyond the reservation get 429", func(t *testing.T) {
		if r := s.aws(t, "lambda", "put-function-concurrency", "--function-name", name, "--reserved-concurrent-executions", "2"); r.code != 0 ||
			!strings.Contains(r.stdout, `"ReservedConcurrentExecutions": 2`) {
			t.Fatalf("put-function-concurrency: %d %s %s", r.code, r.stdout, r.stderr)
		}
		var wg sync.WaitGroup
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c.Invoke(context.Background(), &lambda.InvokeInput{FunctionName: aws.String(name), Payload: []byte(`{"ms":8000}`)})
			}()
		}
		testenv.CheckFor(t, 20*time.Second, 20*time.Millisecond, func() error {
			r := cliInvoke()
			if r.code == 0 || !strings.Contains(r.stderr, "TooManyRequestsException") {
				return fmt.Errorf("a third invoke while two run: %d %s %s", r.code, r.stdout, r.stderr)
			}
			return nil
		})
		wg.Wait()
		if r := cliInvoke(); r.code != 0 {
			t.Errorf("an invoke after the others finished: %d %s", r.code, r.stderr)
		}
	})

	t.Run("a reservation of 0 blocks every invoke", func(t *testing.T) {
		s.aws(t, "lambda", "put-function-concurrency", "--function-name", name, "--reserved-concurrent-executions", "0")
		if r := s.aws(t, "lambda", "get-function-concurrency", "--function-name", name); !strings.Contains(r.stdout, `"ReservedConcurrentExecutions": 0`) {
			t.Errorf("get-function-concurrency: %s %s", r.stdout, r.stderr)
		}
		if r := cliInvoke(); r.code == 0 || !strings.Contains(r.stderr, "TooManyRequestsException") || !strings.Contains(r.stderr, "Rate Exceeded.") {
			t.Errorf("an invoke with reserved concurrency 0: %d %s", r.code, r.stderr)
		}
		if r := s.aws(t, "lambda", "delete-function-concurrency", "--function-name", name); r.code != 0 {
			t.Fatalf("delete-function-concurrency: %s", r.stderr)
		}
		if r := cliInvoke(); r.code != 0 {
			t.Errorf("an invoke after the reservation went: %d %s", r.code, r.stderr)
		}
	})

	t.Run("provisioned concurrency reaches READY and its invokes are warm", func(t *testing.T) {
		if r := s.aws(t, "lambda", "publish-version", "--function-name", name); r.code != 0 {
			t.Fatalf("publish-version: %s", r.stderr)
		}
		if r := s.aws(t, "lambda", "put-provisioned-concurrency-config", "--function-name", name, "--qualifier", "1",
			"--provisioned-concurrent-executions", "1"); r.code != 0 || !strings.Contains(r.stdout, `"RequestedProvisionedConcurrentExecutions": 1`) {
			t.Fatalf("put-provisioned-concurrency-config: %s %s", r.stdout, r.stderr)
		}
		testenv.CheckFor(t, 60*time.Second, 200*time.Millisecond, func() error {
			r := s.aws(t, "lambda", "get-provisioned-concurrency-config", "--function-name", name, "--qualifier", "1")
			if !strings.Contains(r.stdout, `"Status": "READY"`) {
				return fmt.Errorf("not READY: %s %s", r.stdout, r.stderr)
			}
			return nil
		})
		var res struct{ LogResult string }
		decodeCLI(t, cliInvoke("--qualifier", "1", "--log-type", "Tail"), &res)
		tail, _ := base64.StdEncoding.DecodeString(res.LogResult)
		if !strings.Contains(string(tail), "REPORT") || strings.Contains(string(tail), "Init Duration") {
			t.Errorf("a provisioned invoke's log:\n%s\nwant a REPORT without Init Duration", tail)
		}
		if r := s.aws(t, "lambda", "list-provisioned-concurrency-configs", "--function-name", name); !strings.Contains(r.stdout, ":"+name+":1") {
			t.Errorf("list-provisioned-concurrency-configs: %s %s", r.stdout, r.stderr)
		}
		if r := s.aws(t, "lambda", "delete-provisioned-concurrency-config", "--function-name", name, "--qualifier", "1"); r.code != 0 {
			t.Errorf("delete-provisioned-concurrency-config: %s", r.stderr)
		}
	})
	_ = os.Remove(out)
}
