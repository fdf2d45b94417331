package auth

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"os/exec"
	"testing"
	"time"

	"github.com/ember-serverless/ember/internal/testenv"
)

// pythonWithBotocore is the interpreter the botocore tests run; Debian's awscli package provides
// botocore for it (inside the awscli package, which the helper script handles).
const pythonWithBotocore = "/usr/bin/python3"

func requireBotocore(t *testing.T) {
	t.Helper()
	probe := "try:\n import botocore.auth\nexcept ImportError:\n import awscli, botocore.auth\n"
	if err := exec.Command(pythonWithBotocore, "-c", probe).Run(); err != nil {
		testenv.Need(t, "needs %s with botocore (Debian package awscli or python3-botocore): %v", pythonWithBotocore, err)
	}
}

// botoRequest is one request for testdata/botosign.py to sign and send.
type botoRequest struct {
	Method         string            `json:"method"`
	URL            string            `json:"url"`
	Headers        map[string]string `json:"headers,omitempty"`
	BodyB64        string            `json:"body_b64,omitempty"`
	PresignExpires int               `json:"presign_expires,omitempty"`
}

type botoSpec struct {
	AccessKey string        `json:"access_key"`
	SecretKey string        `json:"secret_key"`
	Region    string        `json:"region"`
	Service   string        `json:"service"`
	Time      string        `json:"time"`
	Requests  []botoRequest `json:"requests"`
}

type botoResult struct {
	Status int    `json:"status"`
	Body   string `json:"body"`
}

// runBotocore signs and sends spec's requests with botocore and returns the server's verdicts.
func runBotocore(t *testing.T, spec botoSpec) []verdict {
	t.Helper()
	in, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, pythonWithBotocore, "testdata/botosign.py")
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("botosign.py: %v\n%s", err, stderr.String())
	}
	var results []botoResult
	if err := json.Unmarshal(out, &results); err != nil {
		t.Fatalf("botosign.py output %q: %v", out, err)
	}
	verdicts := make([]verdict, len(results))
	for i, r := range results {
		if err := json.Unmarshal([]byte(r.Body), &verdicts[i]); err != nil {
			t.Fatalf("request %d: status %d, body %q: %v", i, r.Status, r.Body, err)
		}
	}
	return verdicts
}

func TestVerifyAcceptsRequestsSignedByBotocore(t *testing.T) {
	requireBotocore(t)
	v := &Verifier{Keys: testKeys, Now: func() time.Time { return signTime.Add(time.Minute) }}
	srv := newVerifyServer(t, v)
	binary := make([]byte, 256)
	for i := range binary {
		binary[i] = byte(255 - i)
	}
	b64 := base64.StdEncoding.EncodeToString
	cases := []struct {
		name string
		req  botoRequest
	}{
		{"a GET with Marker and MaxItems verifies", botoRequest{Method: "GET",
			URL: "/2015-03-31/functions/?Marker=abc%2Fdef%3D%3D&MaxItems=50"}},
		{"a GET with Qualifier $LATEST verifies", botoRequest{Method: "GET",
			URL: "/2015-03-31/functions/foo?Qualifier=%24LATEST"}},
		{"a POST invoke to an encoded ARN path verifies", botoRequest{Method: "POST", URL: invokePath,
			Headers: map[string]string{"X-Amz-Invocation-Type": "RequestResponse", "Content-Type": "application/json"},
			BodyB64: b64([]byte(`{"hello":"world"}`))}},
		{"a PUT with a JSON body verifies", botoRequest{Method: "PUT", URL: "/2015-03-31/functions/foo/configuration",
			Headers: map[string]string{"Content-Type": "application/json"}, BodyB64: b64([]byte(`{"Timeout":30}`))}},
		{"a DELETE with a Qualifier verifies", botoRequest{Method: "DELETE", URL: "/2015-03-31/functions/foo?Qualifier=3"}},
		{"a POST with a binary body verifies", botoRequest{Method: "POST", URL: invokePath, BodyB64: b64(binary)}},
		{"a POST with an empty body verifies", botoRequest{Method: "POST", URL: invokePath}},
		{"an UNSIGNED-PAYLOAD request verifies", botoRequest{Method: "POST", URL: invokePath,
			Headers: map[string]string{"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"}, BodyB64: b64([]byte("anything"))}},
		{"a request dated by a Date header verifies", botoRequest{Method: "GET", URL: "/2015-03-31/functions/",
			Headers: map[string]string{"Date": "replaced by botocore"}}},
		{"header values with extra spaces verify", botoRequest{Method: "GET", URL: "/2015-03-31/functions/",
			Headers: map[string]string{"X-Amz-Client-Context": "  a   b \t c  "}}},
		{"a path with an empty segment verifies as botocore normalizes it", botoRequest{Method: "GET",
			URL: "/2015-03-31//functions/"}},
		{"a presigned GET verifies", botoRequest{Method: "GET", URL: "/2015-03-31/functions/foo?Qualifier=%24LATEST",
			PresignExpires: 300}},
	}
	spec := botoSpec{AccessKey: testKeyID, SecretKey: testSecret, Region: testRegion, Service: "lambda",
		Time: signTime.Format(iso8601Basic)}
	for _, c := range cases {
		r := c.req
		r.URL = srv.URL + r.URL
		spec.Requests = append(spec.Requests, r)
	}
	got := runBotocore(t, spec)
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got[i].Type != "" {
				t.Fatalf("Verify failed: %s: %s", got[i].Type, got[i].Message)
			}
			want := Identity{AccessKeyID: testKeyID, Region: testRegion, Service: "lambda"}
			if got[i].Identity != want {
				t.Fatalf("identity = %+v, want %+v", got[i].Identity, want)
			}
		})
	}
}

func TestVerifyRejectsBotocoreRequestsSignedWithTheWrongSecret(t *testing.T) {
	requireBotocore(t)
	v := &Verifier{Keys: testKeys, Now: func() time.Time { return signTime }}
	srv := newVerifyServer(t, v)
	spec := botoSpec{AccessKey: testKeyID, SecretKey: "wrong", Region: testRegion, Service: "lambda",
		Time: signTime.Format(iso8601Basic), Requests: []botoRequest{
			{Method: "GET", URL: srv.URL + "/2015-03-31/functions/"},
			{Method: "GET", URL: srv.URL + "/2015-03-31/functions/", PresignExpires: 60},
		}}
	for i, got := range runBotocore(t, spec) {
		if got.Type != "InvalidSignatureException" || got.Message != msgSignatureInvalid {
			t.Errorf("request %d: got %s: %s, want a signature mismatch", i, got.Type, got.Message)
		}
	}
}
