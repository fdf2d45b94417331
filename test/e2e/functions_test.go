package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

func TestCreateGetAndDeleteAFunction(t *testing.T) {
	s := sharedServer(t)
	c := s.lambdaClient()
	ctx := context.Background()
	name := uniqueName("lifecycle")
	zip := functionZips["echo"]

	created, err := c.CreateFunction(ctx, createInput(name, functionSpec{fn: "echo"}))
	if err != nil {
		t.Fatalf("CreateFunction: %v", err)
	}
	t.Run("a new function starts Pending with Lambda's defaults", func(t *testing.T) {
		if created.State != types.StatePending {
			t.Errorf("State = %q, want Pending", created.State)
		}
		wantARN := "arn:aws:lambda:" + region + ":" + accountID + ":function:" + name
		if got := aws.ToString(created.FunctionArn); got != wantARN {
			t.Errorf("FunctionArn = %q, want %q", got, wantARN)
		}
		if got := aws.ToInt32(created.MemorySize); got != 128 {
			t.Errorf("MemorySize = %d, want 128", got)
		}
		if got := aws.ToInt32(created.Timeout); got != 3 {
			t.Errorf("Timeout = %d, want 3", got)
		}
		if created.EphemeralStorage == nil || aws.ToInt32(created.EphemeralStorage.Size) != 512 {
			t.Errorf("EphemeralStorage = %+v, want 512 MB", created.EphemeralStorage)
		}
		if got := aws.ToString(created.Version); got != "$LATEST" {
			t.Errorf("Version = %q, want $LATEST", got)
		}
		if created.PackageType != types.PackageTypeZip {
			t.Errorf("PackageType = %q, want Zip", created.PackageType)
		}
		if aws.ToString(created.RevisionId) == "" {
			t.Error("RevisionId is empty")
		}
	})

	t.Run("it becomes Active", func(t *testing.T) {
		waitReady(t, c, name)
	})

	got, err := c.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String(name)})
	if err != nil {
		t.Fatalf("GetFunction: %v", err)
	}
	t.Run("CodeSha256 is the base64 SHA-256 of the zip and CodeSize its length", func(t *testing.T) {
		sum := sha256.Sum256(zip)
		if want := base64.StdEncoding.EncodeToString(sum[:]); aws.ToString(got.Configuration.CodeSha256) != want {
			t.Errorf("CodeSha256 = %q, want %q", aws.ToString(got.Configuration.CodeSha256), want)
		}
		if got.Configuration.CodeSize != int64(len(zip)) {
			t.Errorf("CodeSize = %d, want %d", got.Configuration.CodeSize, len(zip))
		}
	})
	t.Run("Code.Location downloads the identical zip", func(t *testing.T) {
		if got.Code == nil || aws.ToString(got.Code.Location) == "" {
			t.Fatalf("Code = %+v, want a Location", got.Code)
		}
		if rt := aws.ToString(got.Code.RepositoryType); rt != "S3" {
			t.Errorf("RepositoryType = %q, want S3", rt)
		}
		resp, err := http.Get(aws.ToString(got.Code.Location))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET Code.Location: %s: %s", resp.Status, body)
		}
		if !bytes.Equal(body, zip) {
			t.Errorf("downloaded %d bytes that differ from the %d uploaded", len(body), len(zip))
		}
	})

	if _, err := c.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: aws.String(name)}); err != nil {
		t.Fatalf("DeleteFunction: %v", err)
	}
	t.Run("a deleted function is not found", func(t *testing.T) {
		_, err := c.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String(name)})
		wantAPIError(t, err, http.StatusNotFound, "ResourceNotFoundException")
		_, err = c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(name)})
		wantAPIError(t, err, http.StatusNotFound, "ResourceNotFoundException")
		_, err = c.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: aws.String(name)})
		wantAPIError(t, err, http.StatusNotFound, "ResourceNotFoundException")
	})
}

func TestListFunctionsPagesWithMarkerAndMaxItems(t *testing.T) {
	s := sharedServer(t)
	c := s.lambdaClient()
	prefix := uniqueName("list")
	want := map[string]bool{}
	for i := range 5 {
		name := prefix + "-" + string(rune('a'+i))
		if _, err := c.CreateFunction(context.Background(), createInput(name, functionSpec{fn: "echo"})); err != nil {
			t.Fatalf("CreateFunction: %v", err)
		}
		want[name] = true
	}

	seen := map[string]int{}
	var marker *string
	for pages := 0; ; pages++ {
		if pages > 1000 {
			t.Fatal("paging never ends")
		}
		out, err := c.ListFunctions(context.Background(), &lambda.ListFunctionsInput{MaxItems: aws.Int32(2), Marker: marker})
		if err != nil {
			t.Fatalf("ListFunctions: %v", err)
		}
		if len(out.Functions) > 2 {
			t.Fatalf("page of %d functions, want at most MaxItems=2", len(out.Functions))
		}
		for _, f := range out.Functions {
			seen[aws.ToString(f.FunctionName)]++
		}
		if out.NextMarker == nil {
			break
		}
		marker = out.NextMarker
	}
	for name := range want {
		if seen[name] != 1 {
			t.Errorf("%s listed %d times, want once", name, seen[name])
		}
	}
	for name, n := range seen {
		if n > 1 {
			t.Errorf("%s listed %d times across pages", name, n)
		}
	}
}

func TestUpdateFunctionConfigurationAndCode(t *testing.T) {
	s := sharedServer(t)
	c := s.lambdaClient()
	ctx := context.Background()
	name := deploy(t, c, functionSpec{fn: "context", env: map[string]string{"STAGE": "one"}})
	before := waitReady(t, c, name)

	upd, err := c.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{
		FunctionName:     aws.String(name),
		Environment:      &types.Environment{Variables: map[string]string{"STAGE": "two", "EXTRA": "yes"}},
		MemorySize:       aws.Int32(256),
		Timeout:          aws.Int32(10),
		EphemeralStorage: &types.EphemeralStorage{Size: aws.Int32(1024)},
		Handler:          aws.String("bootstrap.handler"),
		Description:      aws.String("updated by e2e"),
		RevisionId:       before.RevisionId,
	})
	if err != nil {
		t.Fatalf("UpdateFunctionConfiguration: %v", err)
	}
	t.Run("an update starts InProgress and becomes Successful with a new RevisionId", func(t *testing.T) {
		if upd.LastUpdateStatus != types.LastUpdateStatusInProgress {
			t.Errorf("LastUpdateStatus = %q, want InProgress", upd.LastUpdateStatus)
		}
		after := waitReady(t, c, name)
		if after.LastUpdateStatus != types.LastUpdateStatusSuccessful {
			t.Errorf("LastUpdateStatus = %q, want Successful", after.LastUpdateStatus)
		}
		if aws.ToString(after.RevisionId) == aws.ToString(before.RevisionId) {
			t.Error("RevisionId did not change")
		}
		if aws.ToInt32(after.MemorySize) != 256 || aws.ToInt32(after.Timeout) != 10 ||
			aws.ToInt32(after.EphemeralStorage.Size) != 1024 || aws.ToString(after.Handler) != "bootstrap.handler" ||
			aws.ToString(after.Description) != "updated by e2e" || after.Environment.Variables["STAGE"] != "two" {
			t.Errorf("configuration after update = %+v", after)
		}
	})
	t.Run("the next invoke sees the new configuration", func(t *testing.T) {
		r := invokeContext(t, c, name)
		for k, v := range map[string]string{"STAGE": "two", "EXTRA": "yes", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256", "_HANDLER": "bootstrap.handler"} {
			if r.Env[k] != v {
				t.Errorf("%s = %q, want %q", k, r.Env[k], v)
			}
		}
	})
	t.Run("an update with a stale RevisionId fails with PreconditionFailedException", func(t *testing.T) {
		_, err := c.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{
			FunctionName: aws.String(name),
			Description:  aws.String("stale"),
			RevisionId:   before.RevisionId,
		})
		wantAPIError(t, err, http.StatusPreconditionFailed, "PreconditionFailedException")
	})

	t.Run("updating the code replaces what runs and its CodeSha256", func(t *testing.T) {
		cur := waitReady(t, c, name)
		out, err := c.UpdateFunctionCode(ctx, &lambda.UpdateFunctionCodeInput{
			FunctionName: aws.String(name),
			ZipFile:      functionZips["echo"],
			RevisionId:   cur.RevisionId,
		})
		if err != nil {
			t.Fatalf("UpdateFunctionCode: %v", err)
		}
		if out.LastUpdateStatus != types.LastUpdateStatusInProgress {
			t.Errorf("LastUpdateStatus = %q, want InProgress", out.LastUpdateStatus)
		}
		after := waitReady(t, c, name)
		sum := sha256.Sum256(functionZips["echo"])
		if got, want := aws.ToString(after.CodeSha256), base64.StdEncoding.EncodeToString(sum[:]); got != want {
			t.Errorf("CodeSha256 = %q, want %q", got, want)
		}
		if aws.ToString(after.RevisionId) == aws.ToString(cur.RevisionId) {
			t.Error("RevisionId did not change")
		}
		got := invokeJSON(t, c, name, `{"now":"echo"}`)
		if string(got.Payload) != `{"now":"echo"}` {
			t.Errorf("payload = %s, want the echo function's", got.Payload)
		}
	})
}

func TestDuplicateAndInvalidCreatesAreRejected(t *testing.T) {
	s := sharedServer(t)
	c := s.lambdaClient()
	ctx := context.Background()
	name := deploy(t, c, functionSpec{fn: "echo"})

	_, err := c.CreateFunction(ctx, createInput(name, functionSpec{fn: "echo"}))
	t.Run("a second function with the same name conflicts", func(t *testing.T) {
		wantAPIError(t, err, http.StatusConflict, "ResourceConflictException")
	})

	// Lambda reports model constraint violations as ValidationException and its own checks as
	// InvalidParameterValueException; either is a 400 the SDK surfaces the same way.
	invalid := []string{"InvalidParameterValueException", "ValidationException"}
	tests := []struct {
		name string
		mod  func(*lambda.CreateFunctionInput)
	}{
		{"a name with spaces", func(in *lambda.CreateFunctionInput) { in.FunctionName = aws.String("has spaces") }},
		{"a name longer than 64 characters", func(in *lambda.CreateFunctionInput) { in.FunctionName = aws.String(strings.Repeat("n", 65)) }},
		{"memory below 128 MB", func(in *lambda.CreateFunctionInput) { in.MemorySize = aws.Int32(64) }},
		{"memory above 10240 MB", func(in *lambda.CreateFunctionInput) { in.MemorySize = aws.Int32(10241) }},
		{"a timeout of 0", func(in *lambda.CreateFunctionInput) { in.Timeout = aws.Int32(0) }},
		{"a timeout above 900 seconds", func(in *lambda.CreateFunctionInput) { in.Timeout = aws.Int32(901) }},
		{"ephemeral storage below 512 MB", func(in *lambda.CreateFunctionInput) {
			in.EphemeralStorage = &types.EphemeralStorage{Size: aws.Int32(100)}
		}},
		{"an unknown runtime", func(in *lambda.CreateFunctionInput) { in.Runtime = "cobol85" }},
		{"a reserved environment variable", func(in *lambda.CreateFunctionInput) {
			in.Environment = &types.Environment{Variables: map[string]string{"AWS_REGION": "mars-1"}}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name+" is an invalid parameter", func(t *testing.T) {
			in := createInput(uniqueName("invalid"), functionSpec{fn: "echo"})
			tt.mod(in)
			_, err := c.CreateFunction(ctx, in)
			wantAPIError(t, err, http.StatusBadRequest, invalid...)
			_, err = c.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: in.FunctionName})
			if err == nil {
				t.Error("the rejected function exists")
			}
		})
	}
}

func TestGetAccountSettings(t *testing.T) {
	s := sharedServer(t)
	c := s.lambdaClient()
	deploy(t, c, functionSpec{fn: "echo"})
	out, err := c.GetAccountSettings(context.Background(), &lambda.GetAccountSettingsInput{})
	if err != nil {
		t.Fatalf("GetAccountSettings: %v", err)
	}
	l := out.AccountLimit
	if l == nil || l.CodeSizeZipped != 52428800 || l.CodeSizeUnzipped != 262144000 || l.TotalCodeSize != 80530636800 || l.ConcurrentExecutions <= 0 {
		t.Errorf("AccountLimit = %+v, want Lambda's defaults (50 MB zipped, 250 MB unzipped, 75 GB total, some concurrency)", l)
	}
	if u := out.AccountUsage; u == nil || u.FunctionCount < 1 || u.TotalCodeSize <= 0 {
		t.Errorf("AccountUsage = %+v, want at least the function just created", u)
	}
}
