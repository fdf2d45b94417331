package api_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/smithy-go"

	"github.com/ember-serverless/ember/internal/api"
	"github.com/ember-serverless/ember/internal/auth"
	"github.com/ember-serverless/ember/internal/control"
	"github.com/ember-serverless/ember/internal/control/controltest"
	"github.com/ember-serverless/ember/internal/state/statetest"
)

// TestTheAWSSDKRoundTripsEveryOperation drives the server with aws-sdk-go-v2's Lambda client,
// signing with SigV4 against the real verifier: it proves the wire format, including typed errors.
func TestTheAWSSDKRoundTripsEveryOperation(t *testing.T) {
	ctx := context.Background()
	code := controltest.NewCodeStore()
	reg, err := control.Open(ctx, statetest.New(t), control.Config{}, code)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	verifier := &auth.Verifier{Keys: auth.StaticKeys{"AKIDEMBERTEST": "s3cr3t"}, Region: "us-east-1", Services: []string{"lambda"}}
	inv := &fakeInvoker{}
	s, err := api.New(api.Config{}, api.WithRegistry(reg), api.WithInvoker(inv), api.WithCodeReader(code),
		api.WithAuthenticator(api.VerifierAuth{V: verifier}))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	client := lambda.New(lambda.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(srv.URL),
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDEMBERTEST", "s3cr3t", ""),
		RetryMaxAttempts: 1,
	})
	zip := controltest.Zip(t, map[string]string{"bootstrap": "#!/bin/sh\necho hi\n"})

	created, err := client.CreateFunction(ctx, &lambda.CreateFunctionInput{
		FunctionName: aws.String("sdk-fn"),
		Runtime:      types.RuntimeProvidedal2023,
		Role:         aws.String(role),
		Handler:      aws.String("bootstrap"),
		Code:         &types.FunctionCode{ZipFile: zip},
		Environment:  &types.Environment{Variables: map[string]string{"GREETING": "hi"}},
		Tags:         map[string]string{"team": "ember"},
	})
	if err != nil {
		t.Fatalf("CreateFunction: %v", err)
	}
	if created.State != types.StatePending || aws.ToString(created.FunctionArn) != "arn:aws:lambda:us-east-1:000000000000:function:sdk-fn" ||
		aws.ToInt32(created.MemorySize) != 128 || created.Environment.Variables["GREETING"] != "hi" {
		t.Errorf("CreateFunction returned %+v", created)
	}

	got, err := client.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("arn:aws:lambda:us-east-1:000000000000:function:sdk-fn")})
	if err != nil {
		t.Fatalf("GetFunction: %v", err)
	}
	if got.Configuration.State != types.StateActive || got.Tags["team"] != "ember" || aws.ToString(got.Code.RepositoryType) != "S3" {
		t.Errorf("GetFunction returned %+v", got)
	}
	resp, err := http.Get(aws.ToString(got.Code.Location))
	if err != nil {
		t.Fatal(err)
	}
	downloaded, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(downloaded) != string(zip) {
		t.Errorf("downloading Code.Location: %d, %d bytes", resp.StatusCode, len(downloaded))
	}

	list, err := client.ListFunctions(ctx, &lambda.ListFunctionsInput{MaxItems: aws.Int32(10)})
	if err != nil || len(list.Functions) != 1 || aws.ToString(list.Functions[0].FunctionName) != "sdk-fn" {
		t.Fatalf("ListFunctions: %+v, %v", list, err)
	}

	_, err = client.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{
		FunctionName: aws.String("sdk-fn"), MemorySize: aws.Int32(256), RevisionId: created.RevisionId,
	})
	var stale *types.PreconditionFailedException
	if !errors.As(err, &stale) {
		t.Fatalf("update with the create's RevisionId: %v, want *types.PreconditionFailedException", err)
	}
	updated, err := client.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{
		FunctionName: aws.String("sdk-fn"), MemorySize: aws.Int32(256), Timeout: aws.Int32(30), RevisionId: got.Configuration.RevisionId,
	})
	if err != nil {
		t.Fatalf("UpdateFunctionConfiguration: %v", err)
	}
	if updated.LastUpdateStatus != types.LastUpdateStatusInProgress || aws.ToInt32(updated.MemorySize) != 256 {
		t.Errorf("UpdateFunctionConfiguration returned %+v", updated)
	}
	_, err = client.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{
		FunctionName: aws.String("sdk-fn"), MemorySize: aws.Int32(64),
	})
	var invalid smithy.APIError
	if !errors.As(err, &invalid) || invalid.ErrorCode() != "ValidationException" ||
		!strings.Contains(invalid.ErrorMessage(), "Value '64' at 'memorySize' failed to satisfy constraint: Member must have value greater than or equal to 128") {
		t.Fatalf("MemorySize 64: %v, want the model's ValidationException", err)
	}

	newZip := controltest.Zip(t, map[string]string{"bootstrap": "#!/bin/sh\necho v2\n"})
	code2, err := client.UpdateFunctionCode(ctx, &lambda.UpdateFunctionCodeInput{FunctionName: aws.String("sdk-fn"), ZipFile: newZip})
	if err != nil {
		t.Fatalf("UpdateFunctionCode: %v", err)
	}
	if aws.ToString(code2.CodeSha256) == aws.ToString(created.CodeSha256) || code2.CodeSize != int64(len(newZip)) {
		t.Errorf("UpdateFunctionCode returned %+v", code2)
	}
	cfg, err := client.GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String("sdk-fn")})
	if err != nil || aws.ToInt32(cfg.Timeout) != 30 || cfg.LastUpdateStatus != types.LastUpdateStatusSuccessful {
		t.Fatalf("GetFunctionConfiguration: %+v, %v", cfg, err)
	}

	out, err := client.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("sdk-fn"), Payload: []byte(`{"x":1}`), LogType: types.LogTypeTail})
	if err != nil {
		t.Fatalf("Invoke: %v", err)
	}
	if out.StatusCode != 200 || string(out.Payload) != `{"x":1}` || aws.ToString(out.ExecutedVersion) != "$LATEST" {
		t.Errorf("Invoke returned %+v", out)
	}
	_, err = client.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("sdk-fn"), Payload: []byte(`not json`)})
	var badContent *types.InvalidRequestContentException
	if !errors.As(err, &badContent) {
		t.Errorf("Invoke with a payload that is not JSON: %v, want *types.InvalidRequestContentException", err)
	}

	settings, err := client.GetAccountSettings(ctx, &lambda.GetAccountSettingsInput{})
	if err != nil || settings.AccountUsage.FunctionCount != 1 || settings.AccountLimit.CodeSizeUnzipped != 262144000 {
		t.Fatalf("GetAccountSettings: %+v, %v", settings, err)
	}

	if _, err := client.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: aws.String("sdk-fn")}); err != nil {
		t.Fatalf("DeleteFunction: %v", err)
	}
	_, err = client.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("sdk-fn")})
	var notFound *types.ResourceNotFoundException
	if !errors.As(err, &notFound) || aws.ToString(notFound.Message) != "Function not found: arn:aws:lambda:us-east-1:000000000000:function:sdk-fn" {
		t.Fatalf("GetFunction after delete: %v, want *types.ResourceNotFoundException", err)
	}

	bad := lambda.New(lambda.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDEMBERTEST", "wrong", ""), RetryMaxAttempts: 1})
	_, err = bad.ListFunctions(ctx, &lambda.ListFunctionsInput{})
	var apiErr interface{ ErrorCode() string }
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "InvalidSignatureException" {
		t.Errorf("a wrong secret: %v, want InvalidSignatureException", err)
	}
}
