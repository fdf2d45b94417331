package auth

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/ember-serverless/ember/internal/lambdaerr"
	"github.com/ember-serverless/ember/internal/testenv"
)

// clientServer is a loopback stand-in for Ember's API: it verifies every request, answers
// verified ones with an empty JSON object and the others with the error as Lambda renders it,
// and records what it saw.
type clientServer struct {
	*httptest.Server
	mu   sync.Mutex
	seen []string // "METHOD wire-path: ok" or "...: ErrorType"
}

func newClientServer(t *testing.T, v *Verifier) *clientServer {
	t.Helper()
	s := &clientServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		_, err := v.Verify(r, body)
		outcome := "ok"
		if err != nil {
			outcome = string(lambdaerr.As(err).Type)
		}
		s.mu.Lock()
		s.seen = append(s.seen, r.Method+" "+requestPath(r)+": "+outcome)
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if err != nil {
			le := lambdaerr.As(err)
			w.Header().Set("X-Amzn-ErrorType", string(le.Type))
			w.WriteHeader(le.HTTPStatus())
			_, _ = io.WriteString(w, `{"__type":"`+string(le.Type)+`","message":"`+le.Message+`"}`)
			return
		}
		_, _ = io.WriteString(w, "{}")
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *clientServer) log() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.seen...)
}

func TestVerifyAcceptsTheGoSDKLambdaClient(t *testing.T) {
	v := &Verifier{Keys: testKeys, Region: testRegion, Services: []string{"lambda"}}
	srv := newClientServer(t, v)
	newClient := func(secret string) *lambda.Client {
		return lambda.New(lambda.Options{
			Region:           testRegion,
			BaseEndpoint:     aws.String(srv.URL),
			Credentials:      credentials.NewStaticCredentialsProvider(testKeyID, secret, ""),
			RetryMaxAttempts: 1,
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := newClient(testSecret)
	arn := "arn:aws:lambda:us-east-1:000000000000:function:foo"
	calls := []struct {
		name string
		call func() error
	}{
		{"ListFunctions with Marker and MaxItems", func() error {
			_, err := c.ListFunctions(ctx, &lambda.ListFunctionsInput{Marker: aws.String("a/b=="), MaxItems: aws.Int32(5)})
			return err
		}},
		{"GetFunction of an ARN at $LATEST", func() error {
			_, err := c.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String(arn), Qualifier: aws.String("$LATEST")})
			return err
		}},
		{"Invoke of an ARN with a payload", func() error {
			_, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(arn), Payload: []byte(`{"k":"v"}`)})
			return err
		}},
		{"DeleteFunction with a Qualifier", func() error {
			_, err := c.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: aws.String("foo"), Qualifier: aws.String("1")})
			return err
		}},
	}
	for _, call := range calls {
		t.Run(call.name+" verifies", func(t *testing.T) {
			if err := call.call(); err != nil {
				t.Fatalf("%v\nserver saw: %q", err, srv.log())
			}
		})
	}
	t.Run("a client with the wrong secret gets InvalidSignatureException", func(t *testing.T) {
		_, err := newClient("wrong").ListFunctions(ctx, &lambda.ListFunctionsInput{})
		if err == nil || !strings.Contains(err.Error(), "InvalidSignatureException") {
			t.Fatalf("err = %v, want InvalidSignatureException", err)
		}
	})
	for _, line := range srv.log() {
		if strings.Contains(line, "functions/arn") && !strings.Contains(line, "arn%3Aaws%3Alambda") {
			t.Errorf("the SDK did not send an encoded ARN: %s", line)
		}
	}
}

func TestVerifyAcceptsTheAWSCLI(t *testing.T) {
	const awsCLI = "/usr/bin/aws"
	if testing.Short() {
		t.Skip("runs the AWS CLI several times; skipped with -short")
	}
	testenv.NeedCommand(t, awsCLI, "awscli")
	v := &Verifier{Keys: testKeys, Region: testRegion} // real clock: the CLI signs with it
	srv := newClientServer(t, v)
	home := t.TempDir()
	run := func(secret string, args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, awsCLI, append([]string{"--endpoint-url", srv.URL, "--no-cli-pager"}, args...)...)
		cmd.Dir = home
		cmd.Env = []string{
			"HOME=" + home, "PATH=/usr/bin:/bin",
			"AWS_CONFIG_FILE=" + filepath.Join(home, "config"),
			"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(home, "credentials"),
			"AWS_ACCESS_KEY_ID=" + testKeyID, "AWS_SECRET_ACCESS_KEY=" + secret,
			"AWS_DEFAULT_REGION=" + testRegion, "AWS_EC2_METADATA_DISABLED=true", "AWS_MAX_ATTEMPTS=1",
		}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	arn := "arn:aws:lambda:us-east-1:000000000000:function:foo"
	commands := [][]string{
		{"lambda", "list-functions", "--max-items", "5"},
		{"lambda", "get-function", "--function-name", arn, "--qualifier", "$LATEST"},
		{"lambda", "invoke", "--function-name", arn, "--cli-binary-format", "raw-in-base64-out",
			"--payload", `{"hello": "world"}`, filepath.Join(home, "out.json")},
	}
	for _, args := range commands {
		t.Run("aws "+strings.Join(args[:2], " ")+" verifies", func(t *testing.T) {
			if out, err := run(testSecret, args...); err != nil {
				t.Fatalf("%v\n%s\nserver saw: %q", err, out, srv.log())
			}
		})
	}
	t.Run("the CLI with the wrong secret gets InvalidSignatureException", func(t *testing.T) {
		out, err := run("wrong", "lambda", "list-functions")
		var exit *exec.ExitError
		if !errors.As(err, &exit) || !strings.Contains(out, "InvalidSignatureException") {
			t.Fatalf("err = %v, output:\n%s", err, out)
		}
	})
	for _, line := range srv.log() {
		if strings.Contains(line, "functions/arn") && !strings.Contains(line, "arn%3Aaws%3Alambda") {
			t.Errorf("the CLI did not send an encoded ARN: %s", line)
		}
	}
}
