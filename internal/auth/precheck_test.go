package auth

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ember-serverless/ember/internal/lambdaerr"
)

// newPrecheckServer answers every request with Precheck's verdict, without reading the body.
func newPrecheckServer(t *testing.T, v *Verifier) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var out verdict
		if err := v.Precheck(r); err != nil {
			var le *lambdaerr.Error
			if !errors.As(err, &le) {
				out = verdict{Type: "not a *lambdaerr.Error", Message: err.Error()}
			} else {
				out = verdict{Type: string(le.Type), Message: le.Message, Status: le.HTTPStatus()}
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestPrecheckRefusesWhatItCanWithoutTheBody(t *testing.T) {
	body := []byte(`{"hello":"world"}`)
	otherBody := func(r *http.Request) {
		r.Body = io.NopCloser(strings.NewReader(`{"hello":"w0rld"}`))
		r.ContentLength = 17
	}
	mismatch := lambdaerr.InvalidSignature
	cases := []sdkCase{
		{name: "a request signed as the SDKs sign Lambda requests passes", method: "POST", path: invokePath, body: body},
		{name: "a request without X-Amz-Content-Sha256 passes whatever its body, which Verify checks later",
			method: "POST", path: invokePath, body: body, tamper: otherBody},
		{name: "a request that states its body's hash passes", method: "POST", path: invokePath, body: body,
			headers: map[string]string{"X-Amz-Content-Sha256": sha256Hex(body)}},
		{name: "a presigned request passes", method: "GET", path: "/2015-03-31/functions/foo", presign: true, expires: 300},

		{name: "a request without any signature is a missing token", method: "POST", path: invokePath, body: body,
			tamper:   func(r *http.Request) { r.Header.Del("Authorization") },
			wantType: lambdaerr.MissingAuthenticationTok, wantStatus: 403},
		{name: "an unknown access key is an unrecognized client", method: "POST", path: invokePath, body: body,
			keyID: "AKIAUNKNOWN000000000", secret: "x", wantType: lambdaerr.UnrecognizedClient, wantStatus: 403},
		{name: "a request signed an hour ago has expired", method: "POST", path: invokePath, body: body,
			skew: time.Hour, wantType: mismatch, wantStatus: 403},
		{name: "a malformed Authorization header is incomplete", method: "POST", path: invokePath, body: body,
			tamper:   func(r *http.Request) { r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=x") },
			wantType: IncompleteSignature, wantStatus: 400},
		{name: "a wrong secret fails at once when the payload hash is stated", method: "POST", path: invokePath, body: body,
			secret: "not-the-secret", keyID: testKeyID, headers: map[string]string{"X-Amz-Content-Sha256": sha256Hex(body)},
			wantType: mismatch, wantMsg: msgSignatureInvalid},
		{name: "a wrong secret fails at once on an UNSIGNED-PAYLOAD request", method: "POST", path: invokePath, body: body,
			secret: "not-the-secret", keyID: testKeyID, payload: unsignedPayload,
			headers:  map[string]string{"X-Amz-Content-Sha256": unsignedPayload},
			wantType: mismatch, wantMsg: msgSignatureInvalid},
		{name: "a stated hash that is not a SHA-256 fails", method: "POST", path: invokePath, body: body,
			headers: map[string]string{"X-Amz-Content-Sha256": "abc"}, wantType: mismatch, wantMsg: msgHashMismatch},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := &Verifier{Keys: testKeys, Now: func() time.Time { return signTime.Add(c.skew) }}
			got := send(t, c.request(t, newPrecheckServer(t, v).URL))
			if c.wantType == "" {
				if got.Type != "" {
					t.Fatalf("Precheck failed: %s: %s", got.Type, got.Message)
				}
				return
			}
			c.checkError(t, got)
		})
	}
}
