package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	"github.com/ember-serverless/ember/internal/testenv"
)

// Deadlines for waiting on the server; generous, and only ever upper bounds.
const (
	stateTimeout  = 60 * time.Second
	requestTimout = 90 * time.Second
)

// lambdaClient is an SDK client for s signed with the given key, with retries off so tests see
// every status the server returns.
func (s *emberServer) lambdaClientAs(keyID, secret string) *lambda.Client {
	cfg := aws.Config{
		Region:      region,
		Credentials: credentials.StaticCredentialsProvider{Value: aws.Credentials{AccessKeyID: keyID, SecretAccessKey: secret}},
		HTTPClient:  awshttp.NewBuildableClient().WithTimeout(requestTimout),
		Retryer:     func() aws.Retryer { return aws.NopRetryer{} },
	}
	return lambda.NewFromConfig(cfg, func(o *lambda.Options) { o.BaseEndpoint = aws.String(s.Endpoint) })
}

// lambdaClient is an SDK client for s signed with the root credentials.
func (s *emberServer) lambdaClient() *lambda.Client {
	return s.lambdaClientAs(rootAccessKeyID, rootSecretKey)
}

var nameSeq atomic.Int64

// uniqueName is a function name no other test on the shared server uses.
func uniqueName(base string) string {
	return fmt.Sprintf("e2e-%s-%d-%d", base, time.Now().UnixNano()%1e6, nameSeq.Add(1))
}

// functionSpec is a function to create; zero fields take the server's defaults.
type functionSpec struct {
	fn      string // test function, a key of functionZips
	memory  int32
	timeout int32
	env     map[string]string
}

// createInput is the CreateFunction request for spec named name.
func createInput(name string, spec functionSpec) *lambda.CreateFunctionInput {
	in := &lambda.CreateFunctionInput{
		FunctionName: aws.String(name),
		Runtime:      types.RuntimeProvidedal2023,
		Handler:      aws.String("bootstrap"),
		Role:         aws.String("arn:aws:iam::" + accountID + ":role/e2e"),
		Code:         &types.FunctionCode{ZipFile: functionZips[spec.fn]},
	}
	if spec.memory != 0 {
		in.MemorySize = aws.Int32(spec.memory)
	}
	if spec.timeout != 0 {
		in.Timeout = aws.Int32(spec.timeout)
	}
	if spec.env != nil {
		in.Environment = &types.Environment{Variables: spec.env}
	}
	return in
}

// deploy creates a function from spec under a unique name, waits until it is Active and
// returns its name.
func deploy(t *testing.T, c *lambda.Client, spec functionSpec) string {
	t.Helper()
	name := uniqueName(spec.fn)
	if _, err := c.CreateFunction(context.Background(), createInput(name, spec)); err != nil {
		t.Fatalf("CreateFunction %s: %v", name, err)
	}
	waitReady(t, c, name)
	return name
}

// waitReady polls until the function is Active with no update in progress.
func waitReady(t *testing.T, c *lambda.Client, name string) *lambda.GetFunctionConfigurationOutput {
	t.Helper()
	var cfg *lambda.GetFunctionConfigurationOutput
	testenv.CheckFor(t, stateTimeout, pollStep, func() error {
		var err error
		cfg, err = c.GetFunctionConfiguration(context.Background(), &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(name)})
		if err != nil {
			t.Fatalf("GetFunctionConfiguration %s: %v", name, err)
		}
		if cfg.State == types.StateFailed || cfg.LastUpdateStatus == types.LastUpdateStatusFailed {
			t.Fatalf("%s failed: state %s (%s), last update %s (%s)", name, cfg.State, aws.ToString(cfg.StateReason),
				cfg.LastUpdateStatus, aws.ToString(cfg.LastUpdateStatusReason))
		}
		if cfg.State != types.StateActive || cfg.LastUpdateStatus == types.LastUpdateStatusInProgress {
			return fmt.Errorf("%s: state %s, last update %s", name, cfg.State, cfg.LastUpdateStatus)
		}
		return nil
	})
	return cfg
}

// pollStep is how often the tests poll the server for a state they wait for.
const pollStep = 50 * time.Millisecond

// outputHas reports, as testenv.CheckFor's condition, whether a command's output holds want.
func outputHas(out *testenv.Buffer, want string) error {
	if s := out.String(); !strings.Contains(s, want) {
		return fmt.Errorf("the output lacks %q:\n%s", want, s)
	}
	return nil
}

// invoke calls Invoke and fails the test on a transport or API error.
func invoke(t *testing.T, c *lambda.Client, in *lambda.InvokeInput) *lambda.InvokeOutput {
	t.Helper()
	out, err := c.Invoke(context.Background(), in)
	if err != nil {
		t.Fatalf("Invoke %s: %v", aws.ToString(in.FunctionName), err)
	}
	return out
}

// invokeJSON invokes name synchronously with payload.
func invokeJSON(t *testing.T, c *lambda.Client, name, payload string) *lambda.InvokeOutput {
	t.Helper()
	return invoke(t, c, &lambda.InvokeInput{FunctionName: aws.String(name), Payload: []byte(payload)})
}

// functionError is the body Lambda returns with X-Amz-Function-Error.
type functionError struct {
	ErrorType    string          `json:"errorType"`
	ErrorMessage string          `json:"errorMessage"`
	StackTrace   json.RawMessage `json:"stackTrace"`
}

// wantFunctionError checks out is an Unhandled function error and returns its body.
func wantFunctionError(t *testing.T, out *lambda.InvokeOutput) functionError {
	t.Helper()
	if got := aws.ToString(out.FunctionError); got != "Unhandled" {
		t.Errorf("X-Amz-Function-Error = %q, want Unhandled (payload %s)", got, out.Payload)
	}
	if out.StatusCode != http.StatusOK {
		t.Errorf("status = %d, want 200", out.StatusCode)
	}
	var fe functionError
	if err := json.Unmarshal(out.Payload, &fe); err != nil {
		t.Errorf("function error payload %q is not JSON: %v", out.Payload, err)
	}
	return fe
}

// wantAPIError checks err is an API error with the HTTP status and one of the error codes.
func wantAPIError(t *testing.T, err error, status int, codes ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("succeeded; want %d %v", status, codes)
	}
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("err = %v; want an API error %d %v", err, status, codes)
	}
	if !slices.Contains(codes, apiErr.ErrorCode()) {
		t.Errorf("error code = %q (%s); want one of %v", apiErr.ErrorCode(), apiErr.ErrorMessage(), codes)
	}
	var respErr *awshttp.ResponseError
	if errors.As(err, &respErr) && respErr.HTTPStatusCode() != status {
		t.Errorf("HTTP status = %d; want %d (%v)", respErr.HTTPStatusCode(), status, err)
	}
}

// isolation is the backend the test servers run: EMBER_E2E_ISOLATION, else the default
// `ember server --help` shows.
func isolation(t *testing.T) string {
	t.Helper()
	if v := os.Getenv("EMBER_E2E_ISOLATION"); v != "" {
		return v
	}
	r := runCommand(t, os.Environ(), "", emberBin, "server", "--help")
	m := regexp.MustCompile(`--isolation string .*\(default "([a-z]+)"\)`).FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("cannot find the default isolation in ember server --help:\n%s", r.stdout)
	}
	return m[1]
}

// requestID is the response's x-amzn-RequestId, or "".
func requestID(md middleware.Metadata) string {
	id, _ := awsmiddleware.GetRequestIDMetadata(md)
	return id
}
