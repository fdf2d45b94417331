package e2e

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/smithy-go"
)

// readNamePattern is the Lambda model's pattern for the FunctionName of reads and invokes.
const readNamePattern = `(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\d{1}:)?(\d{12}:)?(function:)?([a-zA-Z0-9-_\.]+)(:(\$LATEST|[a-zA-Z0-9-_]+))?`

// TestTheAWSCLIPrintsAWSsErrorMessages checks, through the AWS CLI v2, which prints an error's
// code and message verbatim, that bad requests get AWS's answers.
func TestTheAWSCLIPrintsAWSsErrorMessages(t *testing.T) {
	needAWSCLI(t)
	s := sharedServer(t)
	name := deploy(t, s.lambdaClient(), functionSpec{fn: "echo"})
	fnARN := "arn:aws:lambda:" + region + ":" + accountID + ":function:"
	dir := t.TempDir()
	zipPath := filepath.Join(dir, "echo.zip")
	if err := os.WriteFile(zipPath, functionZips["echo"], 0o644); err != nil {
		t.Fatal(err)
	}
	roleARN := "arn:aws:iam::" + accountID + ":role/e2e"
	// Each want is "(CODE) when calling the OP operation: MESSAGE"; the CLI prints it as
	// "An error occurred (CODE) when calling the OP operation[ (reached max retries: 0)]: MESSAGE".
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"a name breaking the model's pattern is a ValidationException",
			[]string{"lambda", "get-function", "--function-name", "bad name"},
			"(ValidationException) when calling the GetFunction operation: 1 validation error detected: " +
				"Value 'bad name' at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern: " + readNamePattern},
		{"two broken constraints are counted and joined",
			[]string{"lambda", "update-function-configuration", "--function-name", name, "--memory-size", "20000", "--description", strings.Repeat("d", 257)},
			"(ValidationException) when calling the UpdateFunctionConfiguration operation: 2 validation errors detected: " +
				"Value '" + strings.Repeat("d", 257) + "' at 'description' failed to satisfy constraint: Member must have length less than or equal to 256; " +
				"Value '20000' at 'memorySize' failed to satisfy constraint: Member must have value less than or equal to 10240"},
		{"an invoke of a missing function names its $LATEST",
			[]string{"lambda", "invoke", "--function-name", "no-such-function", filepath.Join(dir, "out.json")},
			"(ResourceNotFoundException) when calling the Invoke operation: Function not found: " + fnARN + "no-such-function:$LATEST"},
		{"a read of a dotted name, which no function has, is not found",
			[]string{"lambda", "get-function-configuration", "--function-name", "no.such.function"},
			"(ResourceNotFoundException) when calling the GetFunctionConfiguration operation: Function not found: " + fnARN + "no.such.function"},
		{"a retired runtime is refused with Lambda's advice",
			[]string{"lambda", "create-function", "--function-name", uniqueName("retired"), "--runtime", "provided", "--handler", "bootstrap",
				"--role", roleARN, "--zip-file", "fileb://" + zipPath},
			"(InvalidParameterValueException) when calling the CreateFunction operation: The runtime parameter of provided is no longer supported " +
				"for creating or updating AWS Lambda functions. We recommend you use the new runtime (provided.al2023) while creating or updating functions."},
		{"a function in another account is denied as AWS words it",
			[]string{"lambda", "get-function", "--function-name", "arn:aws:lambda:" + region + ":111111111111:function:" + name},
			"(AccessDeniedException) when calling the GetFunction operation: User: arn:aws:iam::" + accountID + ":root is not authorized to perform: " +
				"lambda:GetFunction on resource: arn:aws:lambda:" + region + ":111111111111:function:" + name +
				" because no resource-based policy allows the lambda:GetFunction action"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := s.aws(t, tc.args...)
			if r.code == 0 || !cliErrorIs(r.stderr, tc.want) {
				t.Errorf("aws %s exited %d:\n%s\nwant:\n%s", tc.args[1], r.code, r.stderr, tc.want)
			}
		})
	}

	t.Run("a zip over 50 MB is RequestEntityTooLargeException", func(t *testing.T) {
		// A real zip (the CLI checks), stored uncompressed, of random bytes.
		noise := make([]byte, 51<<20)
		if _, err := rand.Read(noise); err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		w, err := zw.CreateHeader(&zip.FileHeader{Name: "noise", Method: zip.Store})
		if err == nil {
			_, err = w.Write(noise)
		}
		if err == nil {
			err = zw.Close()
		}
		if err != nil {
			t.Fatal(err)
		}
		big := buf.Bytes()
		bigPath := filepath.Join(dir, "big.zip")
		if err := os.WriteFile(bigPath, big, 0o644); err != nil {
			t.Fatal(err)
		}
		r := s.aws(t, "lambda", "update-function-code", "--function-name", name, "--zip-file", "fileb://"+bigPath)
		want := "(RequestEntityTooLargeException) when calling the UpdateFunctionCode operation: " +
			"Request must be smaller than 69905067 bytes for the UpdateFunctionCode operation"
		if r.code == 0 || !cliErrorIs(r.stderr, want) {
			t.Errorf("update-function-code with 51 MB exited %d:\n%s\nwant:\n%s", r.code, r.stderr, want)
		}
	})
}

// cliErrorIs reports whether the AWS CLI's stderr is the error want, "(CODE) when calling the
// OP operation: MESSAGE", with or without the retry note the CLI inserts before the colon.
func cliErrorIs(stderr, want string) bool {
	head, msg, _ := strings.Cut(want, " operation: ")
	i := strings.Index(stderr, "An error occurred "+head+" operation")
	return i >= 0 && strings.Contains(stderr[i:], "): "+msg) || strings.Contains(stderr, "An error occurred "+want)
}

// TestTheSDKSeesAWSsErrorsAndShapes checks through aws-sdk-go-v2 that model violations are
// ValidationExceptions, not-found answers are typed, a DryRun answers 204 without a body, and a
// listing leaves out what Lambda's does.
func TestTheSDKSeesAWSsErrorsAndShapes(t *testing.T) {
	s := sharedServer(t)
	c := s.lambdaClient()
	ctx := context.Background()
	name := deploy(t, c, functionSpec{fn: "echo"})

	t.Run("a memory size over the model's maximum is a ValidationException", func(t *testing.T) {
		_, err := c.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String(name), MemorySize: aws.Int32(20000)})
		wantAPIError(t, err, http.StatusBadRequest, "ValidationException")
		var apiErr smithy.APIError
		want := "1 validation error detected: Value '20000' at 'memorySize' failed to satisfy constraint: Member must have value less than or equal to 10240"
		if errors.As(err, &apiErr) && apiErr.ErrorMessage() != want {
			t.Errorf("message %q, want %q", apiErr.ErrorMessage(), want)
		}
	})

	t.Run("an invoke of a missing version is a typed not-found naming it", func(t *testing.T) {
		_, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(name), Qualifier: aws.String("99")})
		var nf *types.ResourceNotFoundException
		want := "Function not found: arn:aws:lambda:" + region + ":" + accountID + ":function:" + name + ":99"
		if !errors.As(err, &nf) || aws.ToString(nf.Message) != want {
			t.Errorf("got %v, want ResourceNotFoundException %q", err, want)
		}
	})

	t.Run("a DryRun answers 204 with no payload", func(t *testing.T) {
		out, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(name), InvocationType: types.InvocationTypeDryRun})
		if err != nil || out.StatusCode != http.StatusNoContent || len(out.Payload) != 0 {
			t.Fatalf("DryRun: %v %+v", err, out)
		}
	})

	t.Run("ListFunctions leaves out the state members GetFunctionConfiguration carries", func(t *testing.T) {
		got, err := c.GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(name)})
		if err != nil || got.State == "" || got.LastUpdateStatus == "" {
			t.Fatalf("GetFunctionConfiguration: %v %+v", err, got)
		}
		p := lambda.NewListFunctionsPaginator(c, &lambda.ListFunctionsInput{})
		found := false
		for p.HasMorePages() && !found {
			page, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range page.Functions {
				if aws.ToString(f.FunctionName) != name {
					continue
				}
				found = true
				if f.State != "" || f.LastUpdateStatus != "" || f.RuntimeVersionConfig != nil {
					t.Errorf("ListFunctions carries State %q, LastUpdateStatus %q, RuntimeVersionConfig %v", f.State, f.LastUpdateStatus, f.RuntimeVersionConfig)
				}
			}
		}
		if !found {
			t.Errorf("%s not listed", name)
		}
	})
}
