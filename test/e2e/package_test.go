package e2e

import (
	"archive/zip"
	"bytes"
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
)

// zipBomb is a small zip that unpacks to more than Lambda's 250 MB limit.
func zipBomb(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.CreateHeader(&zip.FileHeader{Name: "bootstrap", Method: zip.Deflate})
	if err != nil {
		t.Fatal(err)
	}
	zeros := make([]byte, 1<<20)
	for range 251 {
		if _, err := w.Write(zeros); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func mustZip(t *testing.T, entries ...zipEntry) []byte {
	t.Helper()
	b, err := zipFiles(entries...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBadPackagesAreRejectedAndNothingIsStored(t *testing.T) {
	s := sharedServer(t)
	c := s.lambdaClient()
	ctx := context.Background()
	bootstrap := zipEntry{name: "bootstrap", mode: 0o755, body: []byte("#!/bin/sh\n")}

	// Links out of the package are not bad: Lambda keeps them as links, and so does Ember
	// (symlinks_test.go). The function whose code the bad updates must leave alone.
	keeper := deploy(t, c, functionSpec{fn: "echo"})
	keeperCfg := waitReady(t, c, keeper)

	tests := []struct {
		name string
		zip  []byte
	}{
		{"bytes that are not a zip", []byte("PK\x03\x04 this is not really a zip archive")},
		{"an empty body", []byte{}},
		{"an entry that climbs out with ..", mustZip(t, bootstrap, zipEntry{name: "../../escaped", mode: 0o644, body: []byte("x")})},
		{"an entry with an absolute path", mustZip(t, bootstrap, zipEntry{name: "/etc/escaped", mode: 0o644, body: []byte("x")})},
		{"a zip bomb unpacking past 250 MB", zipBomb(t)},
	}
	rejected := []string{"InvalidParameterValueException", "InvalidZipFileException", "ValidationException"}
	for _, tt := range tests {
		t.Run("creating from "+tt.name+" is rejected", func(t *testing.T) {
			name := uniqueName("badzip")
			in := createInput(name, functionSpec{fn: "echo"})
			in.Code.ZipFile = tt.zip
			_, err := c.CreateFunction(ctx, in)
			wantAPIError(t, err, http.StatusBadRequest, rejected...)
			_, err = c.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String(name)})
			wantAPIError(t, err, http.StatusNotFound, "ResourceNotFoundException")
		})
		t.Run("updating code to "+tt.name+" is rejected and the old code stays", func(t *testing.T) {
			_, err := c.UpdateFunctionCode(ctx, &lambda.UpdateFunctionCodeInput{FunctionName: aws.String(keeper), ZipFile: tt.zip})
			wantAPIError(t, err, http.StatusBadRequest, rejected...)
			cfg := waitReady(t, c, keeper)
			if aws.ToString(cfg.CodeSha256) != aws.ToString(keeperCfg.CodeSha256) {
				t.Errorf("CodeSha256 changed from %s to %s", aws.ToString(keeperCfg.CodeSha256), aws.ToString(cfg.CodeSha256))
			}
		})
	}
	t.Run("the function still runs its original code", func(t *testing.T) {
		out := invokeJSON(t, c, keeper, `"still here"`)
		if string(out.Payload) != `"still here"` {
			t.Errorf("payload = %s", out.Payload)
		}
	})
}

func TestTwoFunctionsWithTheSameZipServeIdenticalCode(t *testing.T) {
	// Chunk sharing itself is internal (codestore's unit tests prove it); from outside we can
	// check both functions report and serve the same bytes.
	s := sharedServer(t)
	c := s.lambdaClient()
	ctx := context.Background()
	a := deploy(t, c, functionSpec{fn: "echo"})
	b := deploy(t, c, functionSpec{fn: "echo"})
	var bodies [][]byte
	for _, name := range []string{a, b} {
		got, err := c.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String(name)})
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.Get(aws.ToString(got.Code.Location))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		bodies = append(bodies, body)
	}
	if !bytes.Equal(bodies[0], functionZips["echo"]) || !bytes.Equal(bodies[1], functionZips["echo"]) {
		t.Error("the two functions do not both serve the uploaded zip")
	}
}
