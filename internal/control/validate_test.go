package control_test

import (
	"context"
	"strings"
	"testing"

	"github.com/ember-serverless/ember/internal/control"
	"github.com/ember-serverless/ember/internal/lambdaerr"
	"github.com/ember-serverless/ember/internal/state/statetest"
)

func ptr[T any](v T) *T { return &v }

func TestCreateValidatesAsLambdaDoes(t *testing.T) {
	r := openRegistry(t, statetest.New(t))
	tests := []struct {
		name   string
		modify func(*control.CreateFunctionInput)
		typ    lambdaerr.Type
		msg    string
	}{
		{"a name with a space breaks the name pattern", func(in *control.CreateFunctionInput) { in.FunctionName = "bad name" },
			lambdaerr.Validation, "at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern"},
		{"a name longer than 64 characters is too long", func(in *control.CreateFunctionInput) { in.FunctionName = strings.Repeat("a", 65) },
			lambdaerr.InvalidParameterValue, "Member must have length less than or equal to 64"},
		{"an ARN in another region is not reachable", func(in *control.CreateFunctionInput) {
			in.FunctionName = "arn:aws:lambda:eu-west-1:000000000000:function:x"
		}, lambdaerr.InvalidParameterValue, "Functions from 'eu-west-1' are not reachable in this region ('us-east-1')"},
		{"an ARN in another account is denied", func(in *control.CreateFunctionInput) {
			in.FunctionName = "arn:aws:lambda:us-east-1:111111111111:function:x"
		}, lambdaerr.AccessDenied, "111111111111"},
		{"a missing role is rejected", func(in *control.CreateFunctionInput) { in.Role = "" },
			lambdaerr.InvalidParameterValue, "Value null at 'role'"},
		{"a role that is not an IAM role ARN is rejected", func(in *control.CreateFunctionInput) { in.Role = "admin" },
			lambdaerr.Validation, "at 'role' failed to satisfy constraint"},
		{"a current runtime this server cannot run is named as such", func(in *control.CreateFunctionInput) { in.Runtime = "java21" },
			lambdaerr.InvalidParameterValue, "The runtime parameter of java21 is not supported by this server"},
		{"a deprecated runtime gets Lambda's message", func(in *control.CreateFunctionInput) { in.Runtime = "go1.x" },
			lambdaerr.InvalidParameterValue, "no longer supported for creating or updating AWS Lambda functions"},
		{"the retired provided runtime is refused though this server runs it", func(in *control.CreateFunctionInput) { in.Runtime = "provided" },
			lambdaerr.InvalidParameterValue, "The runtime parameter of provided is no longer supported for creating or updating AWS Lambda functions. " +
				"We recommend you use the new runtime (provided.al2023) while creating or updating functions."},
		{"nodejs18.x is refused as retired, not as missing its interpreter", func(in *control.CreateFunctionInput) { in.Runtime = "nodejs18.x" },
			lambdaerr.InvalidParameterValue, "The runtime parameter of nodejs18.x is no longer supported for creating or updating AWS Lambda functions. " +
				"We recommend you use the new runtime (nodejs22.x) while creating or updating functions."},
		{"an unknown runtime lists the valid values", func(in *control.CreateFunctionInput) { in.Runtime = "cobol" },
			lambdaerr.InvalidParameterValue, "Member must satisfy enum value set: [nodejs,"},
		{"a missing runtime is mandatory", func(in *control.CreateFunctionInput) { in.Runtime = "" },
			lambdaerr.InvalidParameterValue, "Runtime and Handler are mandatory"},
		{"a handler with whitespace is rejected", func(in *control.CreateFunctionInput) { in.Handler = "a b" },
			lambdaerr.Validation, "at 'handler'"},
		{"memory below 128 MB is rejected", func(in *control.CreateFunctionInput) { in.MemorySize = ptr(64) },
			lambdaerr.Validation, "Value '64' at 'memorySize' failed to satisfy constraint: Member must have value greater than or equal to 128"},
		{"memory above 10240 MB is rejected", func(in *control.CreateFunctionInput) { in.MemorySize = ptr(10241) },
			lambdaerr.Validation, "less than or equal to 10240"},
		{"a zero timeout is rejected", func(in *control.CreateFunctionInput) { in.Timeout = ptr(0) },
			lambdaerr.Validation, "at 'timeout'"},
		{"a timeout above 900 seconds is rejected", func(in *control.CreateFunctionInput) { in.Timeout = ptr(901) },
			lambdaerr.InvalidParameterValue, "less than or equal to 900"},
		{"ephemeral storage below 512 MB is rejected", func(in *control.CreateFunctionInput) {
			in.EphemeralStorage = &control.EphemeralStorage{Size: 100}
		}, lambdaerr.Validation, "at 'ephemeralStorage.size'"},
		{"a description over 256 characters is rejected", func(in *control.CreateFunctionInput) { in.Description = strings.Repeat("d", 257) },
			lambdaerr.Validation, "at 'description'"},
		{"an environment key breaking the pattern is rejected", func(in *control.CreateFunctionInput) {
			in.Environment = &control.Environment{Variables: map[string]string{"1BAD": "x"}}
		}, lambdaerr.InvalidParameterValue, "Map keys must satisfy constraint"},
		{"a reserved environment key is rejected", func(in *control.CreateFunctionInput) {
			in.Environment = &control.Environment{Variables: map[string]string{"AWS_REGION": "x"}}
		}, lambdaerr.InvalidParameterValue, "Reserved keys used in this request: AWS_REGION"},
		{"an environment over 4 KB is rejected", func(in *control.CreateFunctionInput) {
			in.Environment = &control.Environment{Variables: map[string]string{"BIG": strings.Repeat("x", 4100)}}
		}, lambdaerr.InvalidParameterValue, "exceeded the 4KB limit"},
		{"an environment value with a NUL is refused, as exec would refuse it", func(in *control.CreateFunctionInput) {
			in.Environment = &control.Environment{Variables: map[string]string{"GOOD": "x", "BAD": "a\x00b"}}
		}, lambdaerr.InvalidParameterValue, "contain a NUL character, which a process environment cannot hold. Keys with such values: BAD"},
		{"an environment key with '=' breaks the key pattern", func(in *control.CreateFunctionInput) {
			in.Environment = &control.Environment{Variables: map[string]string{"A=B": "x"}}
		}, lambdaerr.InvalidParameterValue, "Map keys must satisfy constraint"},
		{"an environment key with a NUL breaks the key pattern", func(in *control.CreateFunctionInput) {
			in.Environment = &control.Environment{Variables: map[string]string{"AB\x00": "x"}}
		}, lambdaerr.InvalidParameterValue, "Map keys must satisfy constraint"},
		{"a handler with a NUL is refused", func(in *control.CreateFunctionInput) { in.Handler = "main\x00x" },
			lambdaerr.InvalidParameterValue, "at 'handler' failed to satisfy constraint: Member must not contain a NUL character"},
		{"arm64 is rejected clearly", func(in *control.CreateFunctionInput) { in.Architectures = []string{"arm64"} },
			lambdaerr.InvalidParameterValue, "arm64 is not supported by this server"},
		{"an image package is rejected", func(in *control.CreateFunctionInput) { in.PackageType = "Image" },
			lambdaerr.InvalidParameterValue, "PackageType Image is not supported"},
		{"code in S3 is rejected", func(in *control.CreateFunctionInput) { in.Code = &control.FunctionCode{S3Bucket: "b", S3Key: "k"} },
			lambdaerr.InvalidParameterValue, "S3 code locations are not supported by this server"},
		{"no code is rejected", func(in *control.CreateFunctionInput) { in.Code = nil },
			lambdaerr.InvalidParameterValue, "Value null at 'code'"},
		{"a package that is not a zip is rejected", func(in *control.CreateFunctionInput) { in.Code = &control.FunctionCode{ZipFile: []byte("nope")} },
			lambdaerr.InvalidParameterValue, "Could not unzip uploaded file"},
		{"a layer version that does not exist is rejected", func(in *control.CreateFunctionInput) {
			in.Layers = []string{"arn:aws:lambda:us-east-1:000000000000:layer:l:1"}
		}, lambdaerr.InvalidParameterValue, "Layer version arn:aws:lambda:us-east-1:000000000000:layer:l:1 does not exist."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := createInput(t, "valid")
			tt.modify(in)
			_, err := r.Create(context.Background(), in)
			if errType(err) != tt.typ || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("got %v, want %s containing %q", err, tt.typ, tt.msg)
			}
		})
	}
	if _, ok := r.Lookup("valid"); ok {
		t.Error("a rejected create stored a function")
	}
}

func TestParseFunctionNameAcceptsLambdasForms(t *testing.T) {
	c := control.Config{Region: "us-east-1", AccountID: "000000000000"}
	tests := []struct {
		in, name, qualifier string
		ok                  bool
	}{
		{"fn", "fn", "", true},
		{"fn:$LATEST", "fn", "$LATEST", true},
		{"fn:prod", "fn", "prod", true},
		{"000000000000:function:fn", "fn", "", true},
		{"000000000000:function:fn:1", "fn", "1", true},
		{"arn:aws:lambda:us-east-1:000000000000:function:fn", "fn", "", true},
		{"arn:aws:lambda:us-east-1:000000000000:function:fn:2", "fn", "2", true},
		{"", "", "", false},
		{"fn:", "", "", false},
		{"fn:a:b", "", "", false},
		{"arn:aws:s3:us-east-1:000000000000:function:fn", "", "", false},
		{"arn:aws:lambda:us-east-1:000000000000:layer:fn", "", "", false},
		{"arn:aws:lambda:useast1:000000000000:function:fn", "", "", false},
		{"00000000000:function:fn", "", "", false},
		{"fn.dot", "fn.dot", "", true}, // the read pattern admits dots: such a function is not found, not refused
	}
	for _, tt := range tests {
		name, q, err := c.ParseFunctionName(tt.in, control.MaxNamespacedFunctionNameLen)
		if (err == nil) != tt.ok || name != tt.name || q != tt.qualifier {
			t.Errorf("ParseFunctionName(%q) = %q, %q, %v", tt.in, name, q, err)
		}
	}
}

func TestParseFunctionNameDoesNotAllocate(t *testing.T) {
	c := control.Config{Region: "us-east-1", AccountID: "000000000000"}
	allocs := testing.AllocsPerRun(100, func() {
		_, _, _ = c.ParseFunctionName("arn:aws:lambda:us-east-1:000000000000:function:fn:$LATEST", control.MaxNamespacedFunctionNameLen)
	})
	if allocs != 0 {
		t.Errorf("%v allocations per parse, want 0", allocs)
	}
}

func TestUpdateConfigurationRefusesWhatExecWouldRefuseAndChangesNothing(t *testing.T) {
	ctx := context.Background()
	r := openRegistry(t, statetest.New(t))
	if _, err := r.Create(ctx, createInput(t, "fn")); err != nil {
		t.Fatal(err)
	}
	waitConfig(t, r, "fn", isState(control.StateActive, ""))
	before, _ := r.Lookup("fn")
	tests := []struct {
		name string
		in   control.UpdateFunctionConfigurationInput
	}{
		{"an environment value with a NUL", control.UpdateFunctionConfigurationInput{
			Environment: &control.Environment{Variables: map[string]string{"KEY": "v\x00"}}}},
		{"a handler with a NUL", control.UpdateFunctionConfigurationInput{Handler: ptr("x\x00y")}},
	}
	for _, tt := range tests {
		t.Run(tt.name+" is refused", func(t *testing.T) {
			in := tt.in
			in.FunctionName = "fn"
			_, err := r.UpdateConfiguration(ctx, &in)
			if errType(err) != lambdaerr.InvalidParameterValue || !strings.Contains(err.Error(), "NUL") {
				t.Fatalf("got %v, want InvalidParameterValueException about the NUL", err)
			}
			if after, _ := r.Lookup("fn"); after.Config.RevisionId != before.Config.RevisionId {
				t.Error("the refused update changed the function")
			}
		})
	}
}
