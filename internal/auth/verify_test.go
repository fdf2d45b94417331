package auth

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/ember-serverless/ember/internal/lambdaerr"
)

const (
	testKeyID  = "AKIAIOSFODNN7EXAMPLE"
	testSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	testRegion = "us-east-1"
	invokePath = "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Afoo/invocations"
)

// signTime is when test requests are signed; verifiers' clocks are set relative to it.
var signTime = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

var testKeys = StaticKeys{testKeyID: testSecret, "AKIAOTHERKEY00000000": "other-secret"}

// verdict is what the test server reports about a request it verified.
type verdict struct {
	Identity Identity
	Type     string
	Message  string
	Status   int
}

// newVerifyServer starts a loopback server that verifies every request with v and answers with
// a JSON verdict, so that tests see requests exactly as they arrive on the wire.
func newVerifyServer(t *testing.T, v *Verifier) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var out verdict
		id, err := v.Verify(r, body)
		if err != nil {
			var le *lambdaerr.Error
			if !errors.As(err, &le) {
				out = verdict{Type: "not a *lambdaerr.Error", Message: err.Error()}
			} else {
				out = verdict{Type: string(le.Type), Message: le.Message, Status: le.HTTPStatus()}
			}
		} else {
			out.Identity = id
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// send sends req and decodes the server's verdict.
func send(t *testing.T, req *http.Request) verdict {
	t.Helper()
	v, err := do(req)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func do(req *http.Request) (verdict, error) {
	var v verdict
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return v, fmt.Errorf("send: %w", err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		return v, fmt.Errorf("decode verdict: %w", err)
	}
	return v, nil
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// sdkCase is one request signed with aws-sdk-go-v2's signer and checked by Verify.
type sdkCase struct {
	name    string
	method  string
	path    string // as sent on the wire, percent-encoded
	query   string // raw query
	body    []byte
	headers map[string]string
	// payload is the payload hash given to the signer: "" means the body's SHA-256.
	payload string
	presign bool
	expires int // X-Amz-Expires for presigned requests; 0 leaves it out
	keyID   string
	secret  string
	region  string
	// skew is how far the verifier's clock is ahead of signTime.
	skew time.Duration
	// tamper changes the signed request before it is sent.
	tamper func(r *http.Request)
	// verifier adjusts the verifier.
	verifier func(v *Verifier)

	wantType   lambdaerr.Type
	wantMsg    string // exact, when set
	wantStatus int
}

// checkError checks that got is the error c wants: its type, and its message and status
// where c names them.
func (c sdkCase) checkError(t *testing.T, got verdict) {
	t.Helper()
	if got.Type != string(c.wantType) {
		t.Fatalf("error type = %q (%s), want %q", got.Type, got.Message, c.wantType)
	}
	if c.wantMsg != "" && got.Message != c.wantMsg {
		t.Errorf("message = %q\nwant      %q", got.Message, c.wantMsg)
	}
	if c.wantStatus != 0 && got.Status != c.wantStatus {
		t.Errorf("status = %d, want %d", got.Status, c.wantStatus)
	}
}

func (c sdkCase) request(t *testing.T, base string) *http.Request {
	t.Helper()
	u := base + c.path
	if c.query != "" {
		u += "?" + c.query
	}
	if c.presign && c.expires > 0 {
		sep := "?"
		if c.query != "" {
			sep = "&"
		}
		u += sep + "X-Amz-Expires=" + strconv.Itoa(c.expires)
	}
	var body io.Reader
	if c.body != nil {
		body = bytes.NewReader(c.body)
	}
	req, err := http.NewRequest(c.method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range c.headers {
		req.Header.Set(k, v)
	}
	payload := c.payload
	if payload == "" {
		payload = sha256Hex(c.body)
	}
	keyID, secret, region := c.keyID, c.secret, c.region
	if keyID == "" {
		keyID, secret = testKeyID, testSecret
	}
	if region == "" {
		region = testRegion
	}
	creds := aws.Credentials{AccessKeyID: keyID, SecretAccessKey: secret}
	signer := v4.NewSigner()
	if c.presign {
		signed, hdr, err := signer.PresignHTTP(context.Background(), creds, req, payload, "lambda", region, signTime)
		if err != nil {
			t.Fatal(err)
		}
		preq, err := http.NewRequest(c.method, signed, body)
		if err != nil {
			t.Fatal(err)
		}
		if c.body != nil {
			preq.Body = io.NopCloser(bytes.NewReader(c.body))
			preq.ContentLength = int64(len(c.body))
		}
		for k, vs := range hdr {
			if k == "Host" {
				continue
			}
			preq.Header[k] = vs
		}
		for k, v := range c.headers {
			preq.Header.Set(k, v)
		}
		req = preq
	} else if err := signer.SignHTTP(context.Background(), creds, req, payload, "lambda", region, signTime); err != nil {
		t.Fatal(err)
	}
	if c.tamper != nil {
		c.tamper(req)
	}
	return req
}

func TestVerifyAcceptsAndRejectsRequestsSignedByTheGoSDK(t *testing.T) {
	binary := make([]byte, 256)
	for i := range binary {
		binary[i] = byte(i)
	}
	invokeBody := []byte(`{"hello":"world"}`)
	replaceBody := func(b string) func(r *http.Request) {
		return func(r *http.Request) {
			r.Body = io.NopCloser(strings.NewReader(b))
			r.ContentLength = int64(len(b))
		}
	}
	editAuth := func(old, new string) func(r *http.Request) {
		return func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), old, new, 1))
		}
	}
	mismatch := lambdaerr.InvalidSignature
	cases := []sdkCase{
		{name: "a GET without a query verifies", method: "GET", path: "/2015-03-31/functions/"},
		{name: "a GET with Marker and MaxItems verifies", method: "GET", path: "/2015-03-31/functions/",
			query: "Marker=abc%2Fdef%3D%3D&MaxItems=50&FunctionVersion=ALL"},
		{name: "a GET with Qualifier $LATEST verifies", method: "GET", path: "/2015-03-31/functions/foo",
			query: "Qualifier=$LATEST"},
		{name: "a POST invoke to an encoded ARN path verifies", method: "POST", path: invokePath,
			query: "Qualifier=%24LATEST", body: invokeBody,
			headers: map[string]string{"X-Amz-Invocation-Type": "RequestResponse", "Content-Type": "application/json"}},
		{name: "a PUT with a JSON body verifies", method: "PUT", path: "/2015-03-31/functions/foo/configuration",
			body: []byte(`{"MemorySize":256}`), headers: map[string]string{"Content-Type": "application/json"}},
		{name: "a DELETE with a Qualifier verifies", method: "DELETE", path: "/2015-03-31/functions/foo",
			query: "Qualifier=7"},
		{name: "a POST with an empty body verifies", method: "POST", path: invokePath, body: []byte{}},
		{name: "a POST with a binary body verifies", method: "POST", path: invokePath, body: binary},
		{name: "an UNSIGNED-PAYLOAD request verifies whatever its body", method: "POST", path: invokePath,
			body: invokeBody, payload: unsignedPayload,
			headers: map[string]string{"X-Amz-Content-Sha256": unsignedPayload}},
		{name: "a request that states its body's hash verifies", method: "POST", path: invokePath,
			body: invokeBody, headers: map[string]string{"X-Amz-Content-Sha256": sha256Hex(invokeBody)}},
		{name: "header values with extra spaces verify", method: "POST", path: invokePath, body: invokeBody,
			headers: map[string]string{"X-Amz-Client-Context": "  a   b  c "}},
		{name: "a request signed 14 minutes ago verifies", method: "GET", path: "/2015-03-31/functions/",
			skew: 14 * time.Minute},
		{name: "a request signed 14 minutes ahead verifies", method: "GET", path: "/2015-03-31/functions/",
			skew: -14 * time.Minute},
		{name: "an unsigned header added on the way does not matter", method: "GET", path: "/2015-03-31/functions/",
			tamper: func(r *http.Request) { r.Header.Set("X-Forwarded-For", "10.0.0.1") }},
		{name: "a presigned GET verifies", method: "GET", path: "/2015-03-31/functions/foo",
			query: "Qualifier=$LATEST", presign: true, expires: 300, skew: 4 * time.Minute},
		{name: "a presigned POST with UNSIGNED-PAYLOAD verifies", method: "POST", path: invokePath,
			body: invokeBody, payload: unsignedPayload, presign: true, expires: 3600, skew: 50 * time.Minute},
		{name: "a presigned request without X-Amz-Expires verifies within the skew", method: "GET",
			path: "/2015-03-31/functions/", presign: true},
		{name: "a verifier restricted to the request's region and service accepts it", method: "GET",
			path: "/2015-03-31/functions/", verifier: func(v *Verifier) { v.Region = testRegion; v.Services = []string{"lambda", "logs"} }},

		{name: "a request without any signature is a missing token", method: "GET", path: "/2015-03-31/functions/",
			tamper:   func(r *http.Request) { r.Header.Del("Authorization") },
			wantType: lambdaerr.MissingAuthenticationTok, wantMsg: msgMissingToken, wantStatus: 403},
		{name: "an unknown access key is an unrecognized client", method: "GET", path: "/2015-03-31/functions/",
			keyID: "AKIAUNKNOWN000000000", secret: "x",
			wantType: lambdaerr.UnrecognizedClient, wantMsg: msgUnrecognized, wantStatus: 403},
		{name: "a wrong secret is an invalid signature", method: "GET", path: "/2015-03-31/functions/",
			keyID: "AKIAOTHERKEY00000000", secret: "not-the-secret",
			wantType: mismatch, wantMsg: msgSignatureInvalid, wantStatus: 403},
		{name: "a request signed 16 minutes ago has expired", method: "GET", path: "/2015-03-31/functions/",
			skew: 16 * time.Minute, wantType: mismatch, wantStatus: 403,
			wantMsg: "Signature expired: 20261123T120000Z is now earlier than 20261123T120100Z (20261123T121600Z - 15 min.)"},
		{name: "a request signed 16 minutes ahead is not yet current", method: "GET", path: "/2015-03-31/functions/",
			skew: -16 * time.Minute, wantType: mismatch, wantStatus: 403,
			wantMsg: "Signature not yet current: 20261123T120000Z is still later than 20261123T115900Z (20261123T114400Z + 15 min.)"},
		{name: "a tampered body fails", method: "POST", path: invokePath, body: invokeBody,
			tamper: replaceBody(`{"hello":"w0rld"}`), wantType: mismatch, wantMsg: msgSignatureInvalid},
		{name: "a body that does not match the stated hash fails", method: "POST", path: invokePath, body: invokeBody,
			headers: map[string]string{"X-Amz-Content-Sha256": sha256Hex(invokeBody)},
			tamper:  replaceBody(`{"hello":"w0rld"}`), wantType: mismatch, wantMsg: msgHashMismatch},
		{name: "a tampered path fails", method: "POST", path: invokePath, body: invokeBody,
			tamper: func(r *http.Request) {
				r.URL.RawPath = strings.Replace(r.URL.RawPath, "function%3Afoo", "function%3Abar", 1)
				r.URL.Path = strings.Replace(r.URL.Path, "function:foo", "function:bar", 1)
			}, wantType: mismatch, wantMsg: msgSignatureInvalid},
		{name: "a tampered query fails", method: "GET", path: "/2015-03-31/functions/", query: "MaxItems=50",
			tamper:   func(r *http.Request) { r.URL.RawQuery = "MaxItems=51" },
			wantType: mismatch, wantMsg: msgSignatureInvalid},
		{name: "an added query parameter fails", method: "GET", path: "/2015-03-31/functions/", query: "MaxItems=50",
			tamper:   func(r *http.Request) { r.URL.RawQuery += "&Marker=x" },
			wantType: mismatch, wantMsg: msgSignatureInvalid},
		{name: "a tampered signed header fails", method: "POST", path: invokePath, body: invokeBody,
			headers:  map[string]string{"X-Amz-Invocation-Type": "RequestResponse"},
			tamper:   func(r *http.Request) { r.Header.Set("X-Amz-Invocation-Type", "Event") },
			wantType: mismatch, wantMsg: msgSignatureInvalid},
		{name: "a tampered method fails", method: "PUT", path: "/2015-03-31/functions/foo/configuration",
			tamper:   func(r *http.Request) { r.Method = "DELETE" },
			wantType: mismatch, wantMsg: msgSignatureInvalid},
		{name: "a header dropped from the signed-header list fails", method: "POST", path: invokePath, body: invokeBody,
			headers:  map[string]string{"X-Amz-Invocation-Type": "RequestResponse"},
			tamper:   editAuth(";x-amz-invocation-type", ""),
			wantType: mismatch, wantMsg: msgSignatureInvalid},
		{name: "a signed-header list without host fails", method: "GET", path: "/2015-03-31/functions/",
			tamper: editAuth("SignedHeaders=host;", "SignedHeaders="), wantType: mismatch, wantMsg: msgHostUnsigned},
		{name: "an uppercase signed-header list fails", method: "GET", path: "/2015-03-31/functions/",
			tamper: editAuth("SignedHeaders=host;", "SignedHeaders=Host;"), wantType: mismatch, wantMsg: msgSignatureInvalid},
		{name: "a truncated signature fails", method: "GET", path: "/2015-03-31/functions/",
			tamper: func(r *http.Request) {
				r.Header.Set("Authorization", r.Header.Get("Authorization")[:len(r.Header.Get("Authorization"))-2])
			}, wantType: mismatch, wantMsg: msgSignatureInvalid},
		{name: "a credential scoped to another day fails", method: "GET", path: "/2015-03-31/functions/",
			tamper: editAuth("/20261123/", "/20261122/"), wantType: mismatch,
			wantMsg: "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '20261122' != '20261123', from '20261123T120000Z'."},
		{name: "a credential with another terminator fails", method: "GET", path: "/2015-03-31/functions/",
			tamper: editAuth("/aws4_request", "/aws5_request"), wantType: mismatch,
			wantMsg: "Credential should be scoped with a valid terminator: 'aws4_request', not 'aws5_request'."},
		{name: "a request for another region fails when the verifier has one", method: "GET",
			path: "/2015-03-31/functions/", region: "eu-west-1", verifier: func(v *Verifier) { v.Region = testRegion },
			wantType: mismatch, wantMsg: "Credential should be scoped to a valid region, not 'eu-west-1'. "},
		{name: "a request for another service fails when the verifier lists services", method: "GET",
			path: "/2015-03-31/functions/", verifier: func(v *Verifier) { v.Services = []string{"logs"} },
			wantType: mismatch, wantMsg: "Credential should be scoped to correct service: 'logs'. "},
		{name: "an expired presigned URL fails", method: "GET", path: "/2015-03-31/functions/foo",
			presign: true, expires: 300, skew: 6 * time.Minute, wantType: mismatch, wantStatus: 403,
			wantMsg: "Signature expired: 20261123T120000Z is now earlier than 20261123T120100Z (20261123T120600Z - 5 min.)"},
		{name: "a presigned URL with a tampered query fails", method: "GET", path: "/2015-03-31/functions/foo",
			query: "Qualifier=1", presign: true, expires: 300,
			tamper: func(r *http.Request) {
				r.URL.RawQuery = strings.Replace(r.URL.RawQuery, "Qualifier=1", "Qualifier=2", 1)
			},
			wantType: mismatch, wantMsg: msgSignatureInvalid},
		{name: "a presigned URL with a tampered body fails unless it was unsigned", method: "POST", path: invokePath,
			body: invokeBody, presign: true, expires: 300, tamper: replaceBody(`{"hello":"w0rld"}`),
			wantType: mismatch, wantMsg: msgSignatureInvalid},
		{name: "a presigned URL valid for more than a week is refused", method: "GET", path: "/2015-03-31/functions/",
			presign: true, expires: 604801, wantType: IncompleteSignature, wantStatus: 400,
			wantMsg: "X-Amz-Expires must be less than a week (in seconds) that is 604800"},
		{name: "both an Authorization header and a presigned query are refused", method: "GET",
			path: "/2015-03-31/functions/", presign: true, expires: 60,
			tamper:   func(r *http.Request) { r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=x") },
			wantType: IncompleteSignature, wantStatus: 400},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := &Verifier{Keys: testKeys, Now: func() time.Time { return signTime.Add(c.skew) }}
			if c.verifier != nil {
				c.verifier(v)
			}
			srv := newVerifyServer(t, v)
			got := send(t, c.request(t, srv.URL))
			if c.wantType == "" {
				if got.Type != "" {
					t.Fatalf("Verify failed: %s: %s", got.Type, got.Message)
				}
				want := Identity{AccessKeyID: testKeyID, Region: testRegion, Service: "lambda"}
				if got.Identity != want {
					t.Fatalf("identity = %+v, want %+v", got.Identity, want)
				}
				return
			}
			c.checkError(t, got)
		})
	}
}

func TestVerifyRejectsMalformedAuthorizationHeadersWithA4xx(t *testing.T) {
	const date = "20261123T120000Z"
	cases := []struct {
		name, auth string
		wantType   lambdaerr.Type
		wantMsg    string
	}{
		{"a bearer token asks for SigV4's parameters", "Bearer abc",
			IncompleteSignature, "Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. Authorization=Bearer abc"},
		{"the algorithm alone asks for the parameters", "AWS4-HMAC-SHA256",
			IncompleteSignature, "Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. Authorization=AWS4-HMAC-SHA256"},
		{"SigV4a is not supported", "AWS4-ECDSA-P256-SHA256 Credential=a/b/c/d/e, SignedHeaders=host, Signature=00",
			IncompleteSignature, "Unsupported AWS 'algorithm': 'AWS4-ECDSA-P256-SHA256'."},
		{"a part without an equal sign is named", "AWS4-HMAC-SHA256 Credential=" + testKeyID + "/20261123/us-east-1/lambda/aws4_request, SignedHeaders, Signature=00",
			IncompleteSignature, "'SignedHeaders' not a valid key=value pair (missing equal-sign) in Authorization header: 'AWS4-HMAC-SHA256 Credential=" + testKeyID + "/20261123/us-east-1/lambda/aws4_request, SignedHeaders, Signature=00'."},
		{"a credential with four parts is malformed", "AWS4-HMAC-SHA256 Credential=" + testKeyID + "/20261123/us-east-1/lambda, SignedHeaders=host, Signature=00",
			IncompleteSignature, "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '" + testKeyID + "/20261123/us-east-1/lambda'"},
		{"a credential with six parts is malformed", "AWS4-HMAC-SHA256 Credential=a/" + testKeyID + "/20261123/us-east-1/lambda/aws4_request, SignedHeaders=host, Signature=00",
			IncompleteSignature, ""},
		{"an empty signature is asked for", "AWS4-HMAC-SHA256 Credential=" + testKeyID + "/20261123/us-east-1/lambda/aws4_request, SignedHeaders=host, Signature=",
			IncompleteSignature, ""},
		{"a signature that is not hex does not match", "AWS4-HMAC-SHA256 Credential=" + testKeyID + "/20261123/us-east-1/lambda/aws4_request, SignedHeaders=host;x-amz-date, Signature=" + strings.Repeat("zz", 32),
			lambdaerr.InvalidSignature, msgSignatureInvalid},
		{"an empty name in the signed-header list does not match", "AWS4-HMAC-SHA256 Credential=" + testKeyID + "/20261123/us-east-1/lambda/aws4_request, SignedHeaders=host;;x-amz-date, Signature=" + strings.Repeat("00", 32),
			lambdaerr.InvalidSignature, msgSignatureInvalid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "http://127.0.0.1/2015-03-31/functions/", nil)
			r.Header.Set("Authorization", c.auth)
			r.Header.Set("X-Amz-Date", date)
			v := &Verifier{Keys: testKeys, Now: func() time.Time { return signTime }}
			_, err := v.Verify(r, nil)
			var le *lambdaerr.Error
			if !errors.As(err, &le) {
				t.Fatalf("Verify = %v, want a *lambdaerr.Error", err)
			}
			if le.Type != c.wantType {
				t.Fatalf("type = %s (%s), want %s", le.Type, le.Message, c.wantType)
			}
			if s := le.HTTPStatus(); s < 400 || s > 499 {
				t.Errorf("status = %d, want 4xx", s)
			}
			if c.wantMsg != "" && le.Message != c.wantMsg {
				t.Errorf("message = %q\nwant      %q", le.Message, c.wantMsg)
			}
		})
	}
}

func TestVerifyAsksForADateWhenThereIsNone(t *testing.T) {
	r := httptest.NewRequest("GET", "http://127.0.0.1/2015-03-31/functions/", nil)
	auth := "AWS4-HMAC-SHA256 Credential=" + testKeyID + "/20261123/us-east-1/lambda/aws4_request, SignedHeaders=host, Signature=" + strings.Repeat("00", 32)
	r.Header.Set("Authorization", auth)
	_, err := (&Verifier{Keys: testKeys}).Verify(r, nil)
	le := lambdaerr.As(err)
	want := "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization=" + auth
	if le.Type != IncompleteSignature || le.Message != want {
		t.Fatalf("Verify = %v, want %s: %s", err, IncompleteSignature, want)
	}
}

func TestVerifyTakesTheSigningTimeFromADateHeader(t *testing.T) {
	// Sign with X-Amz-Date, then move the time to a Date header: the string to sign is the same
	// as long as x-amz-date was not itself a signed header.
	req, err := http.NewRequest("GET", "http://127.0.0.1:1/2015-03-31/functions/", nil)
	if err != nil {
		t.Fatal(err)
	}
	creds := aws.Credentials{AccessKeyID: testKeyID, SecretAccessKey: testSecret}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, sha256Hex(nil), "lambda", testRegion, signTime); err != nil {
		t.Fatal(err)
	}
	auth := strings.Replace(req.Header.Get("Authorization"), ";x-amz-date", "", 1)
	r := httptest.NewRequest("GET", "http://127.0.0.1:1/2015-03-31/functions/", nil)
	r.Header.Set("Date", signTime.Format(http.TimeFormat))
	r.Header.Set("Authorization", auth)
	v := &Verifier{Keys: testKeys, Now: func() time.Time { return signTime }}
	// The signature covered x-amz-date, so it cannot match; what matters is that the Date header
	// was used as the signing time (no IncompleteSignature) and the check reached the signature.
	_, err = v.Verify(r, nil)
	if le := lambdaerr.As(err); le.Type != lambdaerr.InvalidSignature || le.Message != msgSignatureInvalid {
		t.Fatalf("Verify = %v, want a signature mismatch", err)
	}
}

func TestVerifyAcceptsNonCanonicalQueryEncodings(t *testing.T) {
	// Clients put queries on the wire in forms other than SigV4's canonical one ('+' for a
	// space, lowercase hex, unescaped characters); the canonical query decodes and re-encodes.
	base, err := url.Parse("http://127.0.0.1:1/2015-03-31/functions/")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ name, wire string }{
		{"a plus stands for a space", "Marker=a+b&MaxItems=5"},
		{"lowercase hex is the same character", "Marker=a%2fb"},
		{"an unescaped dollar is the same as an escaped one", "Qualifier=$LATEST"},
		{"an escaped unreserved character is the same as a bare one", "Qualifier=%41BC"},
		{"a parameter without a value is an empty value", "FunctionVersion&MaxItems=1"},
		{"repeated names sort by value", "b=2&a=1&b=1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			u := *base
			u.RawQuery = c.wire
			signReq, _ := http.NewRequest("GET", u.String(), nil)
			creds := aws.Credentials{AccessKeyID: testKeyID, SecretAccessKey: testSecret}
			if err := v4.NewSigner().SignHTTP(context.Background(), creds, signReq, sha256Hex(nil), "lambda", testRegion, signTime); err != nil {
				t.Fatal(err)
			}
			// The SDK rewrote its query to the canonical form; send the original wire form.
			r := httptest.NewRequest("GET", u.String(), nil)
			r.Host = signReq.Host
			for k, vs := range signReq.Header {
				r.Header[k] = vs
			}
			v := &Verifier{Keys: testKeys, Now: func() time.Time { return signTime }}
			if _, err := v.Verify(r, nil); err != nil {
				t.Fatalf("Verify(%q) = %v", c.wire, err)
			}
		})
	}
}

func TestVerifyIsSafeForConcurrentUse(t *testing.T) {
	v := &Verifier{Keys: testKeys, Now: func() time.Time { return signTime }}
	srv := newVerifyServer(t, v)
	const workers, each = 8, 20
	reqs := make([][]*http.Request, workers)
	for i := range reqs {
		for j := range each {
			c := sdkCase{method: "POST", path: invokePath, body: []byte(strconv.Itoa(i*each + j)),
				region: []string{"us-east-1", "eu-west-1", "ap-south-1"}[(i+j)%3]}
			reqs[i] = append(reqs[i], c.request(t, srv.URL))
		}
	}
	done := make(chan string)
	for i := range workers {
		go func() {
			for _, req := range reqs[i] {
				got, err := do(req)
				if err != nil {
					done <- err.Error()
					return
				}
				if got.Type != "" {
					done <- got.Type + ": " + got.Message
					return
				}
			}
			done <- ""
		}()
	}
	for range workers {
		if msg := <-done; msg != "" {
			t.Error(msg)
		}
	}
}

func TestVerifyLogsTheCanonicalRequestOfAMismatchAtDebugLevel(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	v := &Verifier{Keys: StaticKeys{testKeyID: "another secret"}, Now: func() time.Time { return signTime }, Logger: logger}
	srv := newVerifyServer(t, v)
	c := sdkCase{method: "GET", path: "/2015-03-31/functions/", query: "MaxItems=5"}
	if got := send(t, c.request(t, srv.URL)); got.Message != msgSignatureInvalid {
		t.Fatalf("got %s: %s, want a mismatch", got.Type, got.Message)
	}
	for _, want := range []string{"signature mismatch", "access_key_id=" + testKeyID, `GET\n/2015-03-31/functions/\nMaxItems=5\nhost:`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log does not contain %q:\n%s", want, logs.String())
		}
	}
	if strings.Contains(logs.String(), "another secret") {
		t.Error("the log contains the secret")
	}
}

func TestVerifyWithoutKeysRecognizesNoClient(t *testing.T) {
	srv := newVerifyServer(t, &Verifier{Now: func() time.Time { return signTime }})
	c := sdkCase{method: "GET", path: "/2015-03-31/functions/"}
	if got := send(t, c.request(t, srv.URL)); got.Type != string(lambdaerr.UnrecognizedClient) {
		t.Fatalf("got %s: %s, want UnrecognizedClientException", got.Type, got.Message)
	}
}
