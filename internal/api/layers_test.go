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

	"github.com/ember-serverless/ember/internal/api"
	"github.com/ember-serverless/ember/internal/auth"
	"github.com/ember-serverless/ember/internal/control"
	"github.com/ember-serverless/ember/internal/control/controltest"
	"github.com/ember-serverless/ember/internal/state/statetest"
)

const layerARN = "arn:aws:lambda:us-east-1:000000000000:layer:"

// layersClient serves an API with a registry and its layers, and returns an SDK client for it.
func layersClient(t *testing.T) *lambda.Client {
	t.Helper()
	verifier := &auth.Verifier{Keys: auth.StaticKeys{"AKIDEMBERTEST": "s3cr3t"}, Region: "us-east-1", Services: []string{"lambda"}}
	f := layersServer(t, api.VerifierAuth{V: verifier})
	srv := httptest.NewServer(f.handler)
	t.Cleanup(srv.Close)
	return lambda.New(lambda.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(srv.URL),
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDEMBERTEST", "s3cr3t", ""),
		RetryMaxAttempts: 1,
	})
}

// layersFixture is newFixture's server with the registry's layers.
func layersFixture(t testing.TB) *fixture {
	t.Helper()
	return layersServer(t, api.AllowAll{})
}

// layersServer is an API with a registry and its layers that authenticates with authn.
func layersServer(t testing.TB, authn api.Authenticator) *fixture {
	t.Helper()
	code := controltest.NewCodeStore()
	reg, err := control.Open(context.Background(), statetest.New(t), control.Config{}, code)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	inv := &fakeInvoker{}
	s, err := api.New(api.Config{}, api.WithRegistry(reg), api.WithLayers(reg.Layers()), api.WithInvoker(inv),
		api.WithCodeReader(code), api.WithAuthenticator(authn))
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{handler: s.Handler(), invoker: inv, registry: reg, code: code}
}

func download(t *testing.T, location string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(location)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// TestTheAWSSDKRoundTripsEveryLayerOperation drives the layer operations, and functions using
// layers, with aws-sdk-go-v2's Lambda client signed with SigV4.
func TestTheAWSSDKRoundTripsEveryLayerOperation(t *testing.T) {
	ctx := context.Background()
	client := layersClient(t)
	zip := controltest.Zip(t, map[string]string{"bin/tool": "#!/bin/sh\necho tool\n"})

	published, err := client.PublishLayerVersion(ctx, &lambda.PublishLayerVersionInput{
		LayerName:               aws.String("tools"),
		Content:                 &types.LayerVersionContentInput{ZipFile: zip},
		Description:             aws.String("shell tools"),
		LicenseInfo:             aws.String("MIT"),
		CompatibleRuntimes:      []types.Runtime{types.RuntimeProvidedal2023, types.RuntimeProvidedal2},
		CompatibleArchitectures: []types.Architecture{types.ArchitectureX8664},
	})
	if err != nil {
		t.Fatalf("PublishLayerVersion: %v", err)
	}
	if published.Version != 1 || aws.ToString(published.LayerArn) != layerARN+"tools" ||
		aws.ToString(published.LayerVersionArn) != layerARN+"tools:1" || aws.ToString(published.Description) != "shell tools" ||
		aws.ToString(published.LicenseInfo) != "MIT" || len(published.CompatibleRuntimes) != 2 ||
		published.CompatibleArchitectures[0] != types.ArchitectureX8664 || published.Content.CodeSize != int64(len(zip)) ||
		aws.ToString(published.Content.CodeSha256) == "" || aws.ToString(published.CreatedDate) == "" {
		t.Errorf("PublishLayerVersion returned %+v, content %+v", published, published.Content)
	}
	if status, got := download(t, aws.ToString(published.Content.Location)); status != 200 || string(got) != string(zip) {
		t.Errorf("downloading Content.Location: %d, %d bytes", status, len(got))
	}
	if status, _ := download(t, strings.Replace(aws.ToString(published.Content.Location), "/tools/1", "/tools/2", 1)); status != 403 {
		t.Errorf("a location for another version: %d, want 403", status)
	}
	if _, err := client.PublishLayerVersion(ctx, &lambda.PublishLayerVersionInput{
		LayerName: aws.String(layerARN + "tools"), Content: &types.LayerVersionContentInput{ZipFile: zip}}); err != nil {
		t.Fatalf("PublishLayerVersion by ARN: %v", err)
	}

	got, err := client.GetLayerVersion(ctx, &lambda.GetLayerVersionInput{LayerName: aws.String("tools"), VersionNumber: aws.Int64(1)})
	if err != nil || aws.ToString(got.LayerVersionArn) != layerARN+"tools:1" || aws.ToString(got.Content.Location) == "" {
		t.Fatalf("GetLayerVersion: %+v, %v", got, err)
	}
	byARN, err := client.GetLayerVersionByArn(ctx, &lambda.GetLayerVersionByArnInput{Arn: aws.String(layerARN + "tools:2")})
	if err != nil || byARN.Version != 2 {
		t.Fatalf("GetLayerVersionByArn: %+v, %v", byARN, err)
	}
	list, err := client.ListLayers(ctx, &lambda.ListLayersInput{CompatibleRuntime: types.RuntimeProvidedal2023})
	if err != nil || len(list.Layers) != 1 || aws.ToString(list.Layers[0].LayerName) != "tools" ||
		list.Layers[0].LatestMatchingVersion.Version != 1 {
		t.Fatalf("ListLayers for provided.al2023: %+v, %v", list, err)
	}
	versions, err := client.ListLayerVersions(ctx, &lambda.ListLayerVersionsInput{LayerName: aws.String("tools"), MaxItems: aws.Int32(1)})
	if err != nil || len(versions.LayerVersions) != 1 || versions.LayerVersions[0].Version != 2 || aws.ToString(versions.NextMarker) == "" {
		t.Fatalf("ListLayerVersions: %+v, %v", versions, err)
	}
	rest, err := client.ListLayerVersions(ctx, &lambda.ListLayerVersionsInput{LayerName: aws.String("tools"), Marker: versions.NextMarker})
	if err != nil || len(rest.LayerVersions) != 1 || rest.LayerVersions[0].Version != 1 || rest.NextMarker != nil {
		t.Fatalf("ListLayerVersions second page: %+v, %v", rest, err)
	}

	_, err = client.CreateFunction(ctx, &lambda.CreateFunctionInput{
		FunctionName: aws.String("with-layers"), Runtime: types.RuntimeProvidedal2023, Role: aws.String(role),
		Handler: aws.String("bootstrap"), Code: &types.FunctionCode{ZipFile: controltest.Zip(t, map[string]string{"bootstrap": "#!/bin/sh\n"})},
		Layers: []string{layerARN + "tools:3"},
	})
	var invalid *types.InvalidParameterValueException
	if !errors.As(err, &invalid) || !strings.Contains(aws.ToString(invalid.Message), "Layer version "+layerARN+"tools:3 does not exist.") {
		t.Fatalf("CreateFunction with a layer version that does not exist: %v", err)
	}
	created, err := client.CreateFunction(ctx, &lambda.CreateFunctionInput{
		FunctionName: aws.String("with-layers"), Runtime: types.RuntimeProvidedal2023, Role: aws.String(role),
		Handler: aws.String("bootstrap"), Code: &types.FunctionCode{ZipFile: controltest.Zip(t, map[string]string{"bootstrap": "#!/bin/sh\n"})},
		Layers: []string{layerARN + "tools:2"},
	})
	if err != nil || len(created.Layers) != 1 || aws.ToString(created.Layers[0].Arn) != layerARN+"tools:2" || created.Layers[0].CodeSize != int64(len(zip)) {
		t.Fatalf("CreateFunction with a layer: %+v, %v", created, err)
	}

	if _, err := client.DeleteLayerVersion(ctx, &lambda.DeleteLayerVersionInput{LayerName: aws.String("tools"), VersionNumber: aws.Int64(2)}); err != nil {
		t.Fatalf("DeleteLayerVersion: %v", err)
	}
	if _, err := client.DeleteLayerVersion(ctx, &lambda.DeleteLayerVersionInput{LayerName: aws.String("tools"), VersionNumber: aws.Int64(2)}); err != nil {
		t.Errorf("DeleteLayerVersion of a deleted version: %v, want success", err)
	}
	_, err = client.GetLayerVersion(ctx, &lambda.GetLayerVersionInput{LayerName: aws.String("tools"), VersionNumber: aws.Int64(2)})
	var notFound *types.ResourceNotFoundException
	if !errors.As(err, &notFound) {
		t.Errorf("GetLayerVersion after delete: %v, want *types.ResourceNotFoundException", err)
	}
	fn, err := client.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("with-layers")})
	if err != nil || len(fn.Configuration.Layers) != 1 || aws.ToString(fn.Configuration.Layers[0].Arn) != layerARN+"tools:2" {
		t.Fatalf("GetFunction after the layer version was deleted: %+v, %v", fn, err)
	}
	updated, err := client.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{
		FunctionName: aws.String("with-layers"), Layers: []string{}})
	if err != nil || len(updated.Layers) != 0 {
		t.Fatalf("UpdateFunctionConfiguration removing the layers: %+v, %v", updated, err)
	}
}

func TestLayerErrorsAreRenderedAsLambdaDoes(t *testing.T) {
	plain, f := newFixture(t), layersFixture(t)
	tests := []struct {
		name         string
		f            *fixture
		method, path string
		status       int
		typ, msg     string
	}{
		{"layers without a layer registry are a service error", plain, "GET", "/2018-10-31/layers", 500, "ServiceException", "not configured"},
		{"a version that does not exist is not found", f, "GET", "/2018-10-31/layers/none/versions/1", 404,
			"ResourceNotFoundException", "The resource you requested does not exist."},
		{"version zero is invalid", f, "GET", "/2018-10-31/layers/none/versions/0", 400,
			"InvalidParameterValueException", "Layer Version Cannot be less than 1"},
		{"a version that is not a number is invalid", f, "DELETE", "/2018-10-31/layers/none/versions/x", 400,
			"InvalidParameterValueException", "versionNumber"},
		{"a bad layer name is invalid", f, "GET", "/2018-10-31/layers/bad%20name/versions", 400,
			"ValidationException", "layerName"},
		{"find by an ARN without a version is invalid", f, "GET", "/2018-10-31/layers?find=LayerVersion&Arn=" + layerARN + "x", 400,
			"ValidationException", "at 'arn'"},
		{"a MaxItems of 51 is invalid", f, "GET", "/2018-10-31/layers?MaxItems=51", 400,
			"ValidationException", "maxItems"},
		{"an unknown runtime filter is invalid", f, "GET", "/2018-10-31/layers/x/versions?CompatibleRuntime=cobol", 400,
			"InvalidParameterValueException", "compatibleRuntime"},
		{"a publish without content is invalid", f, "POST", "/2018-10-31/layers/x/versions", 400,
			"ValidationException", "Value null at 'content'"},
		{"a layer download with a bad signature is denied", f, "GET", "/ember/layer-code/x/1?sha256=x&expires=99999999999&signature=00", 403,
			"AccessDeniedException", "signature"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := tt.f.do(t, tt.method, tt.path, nil, nil)
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.status, rec.Body)
			}
			typ, msg := wireError(t, rec)
			if typ != tt.typ || !strings.Contains(msg, tt.msg) {
				t.Errorf("got %s %q, want %s containing %q", typ, msg, tt.typ, tt.msg)
			}
		})
	}

	t.Run("a layer that does not exist has an empty list of versions", func(t *testing.T) {
		rec := f.do(t, "GET", "/2018-10-31/layers/none/versions", nil, nil)
		if rec.Code != 200 || strings.TrimSpace(rec.Body.String()) != `{"LayerVersions":[]}` {
			t.Errorf("%d %s", rec.Code, rec.Body)
		}
	})
	t.Run("no layers is an empty list", func(t *testing.T) {
		rec := f.do(t, "GET", "/2018-10-31/layers", nil, nil)
		if rec.Code != 200 || strings.TrimSpace(rec.Body.String()) != `{"Layers":[]}` {
			t.Errorf("%d %s", rec.Code, rec.Body)
		}
	})
}
