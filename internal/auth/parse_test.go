package auth

import (
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ember-serverless/ember/internal/lambdaerr"
)

func TestParseAuthorizationReadsWhatClientsSend(t *testing.T) {
	sig := strings.Repeat("ab", 32)
	want := authorization{
		credential:    testKeyID + "/20261123/us-east-1/lambda/aws4_request",
		scope:         scope{testKeyID, "20261123", "us-east-1", "lambda", "aws4_request"},
		signedHeaders: "host;x-amz-date",
		signature:     sig,
	}
	for name, h := range map[string]string{
		"the SDKs' comma-space separators": "AWS4-HMAC-SHA256 Credential=" + want.credential + ", SignedHeaders=host;x-amz-date, Signature=" + sig,
		"bare commas":                      "AWS4-HMAC-SHA256 Credential=" + want.credential + ",SignedHeaders=host;x-amz-date,Signature=" + sig,
		"parameters in another order":      "AWS4-HMAC-SHA256 Signature=" + sig + ", Credential=" + want.credential + ", SignedHeaders=host;x-amz-date",
		"extra spaces and an unknown part": "  AWS4-HMAC-SHA256   Credential=" + want.credential + " ,  Foo=bar, SignedHeaders=host;x-amz-date ,Signature=" + sig,
		"a trailing comma":                 "AWS4-HMAC-SHA256 Credential=" + want.credential + ", SignedHeaders=host;x-amz-date, Signature=" + sig + ",",
	} {
		t.Run(name+" parse", func(t *testing.T) {
			got, err := parseAuthorization(h)
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Fatalf("got %+v\nwant %+v", got, want)
			}
		})
	}
}

func FuzzParseAuthorization(f *testing.F) {
	f.Add("AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261123/us-east-1/lambda/aws4_request, SignedHeaders=host;x-amz-date, Signature=" + strings.Repeat("0f", 32))
	f.Add("Bearer x")
	f.Add("")
	f.Fuzz(func(t *testing.T, h string) {
		a, err := parseAuthorization(h)
		if err != nil {
			var le *lambdaerr.Error
			if !errors.As(err, &le) {
				t.Fatalf("error %v is not a *lambdaerr.Error", err)
			}
			if s := le.HTTPStatus(); s < 400 || s > 499 {
				t.Fatalf("status %d for %q", s, h)
			}
			return
		}
		sc := a.scope
		for _, p := range []string{sc.accessKeyID, sc.date, sc.region, sc.service, sc.terminator} {
			if p == "" || strings.Contains(p, "/") {
				t.Fatalf("scope part %q of %q", p, h)
			}
		}
		if a.signedHeaders == "" || a.signature == "" {
			t.Fatalf("empty SignedHeaders or Signature from %q", h)
		}
		// Writing the parsed header out again must parse to the same thing.
		again := algorithm + " Credential=" + a.credential + ", SignedHeaders=" + a.signedHeaders + ", Signature=" + a.signature
		b, err := parseAuthorization(again)
		if err != nil || b != a {
			t.Fatalf("%q parsed to %+v; written out as %q it parsed to %+v, %v", h, a, again, b, err)
		}
	})
}

// FuzzVerify feeds arbitrary Authorization headers, dates and queries through Verify: it must
// never panic and must answer with a 4xx *lambdaerr.Error.
func FuzzVerify(f *testing.F) {
	f.Add("AWS4-HMAC-SHA256 Credential="+testKeyID+"/20261123/us-east-1/lambda/aws4_request, SignedHeaders=host;x-amz-date, Signature="+strings.Repeat("0f", 32), "20261123T120000Z", "MaxItems=5")
	f.Add("", "", "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential="+testKeyID+"%2F20261123%2Fus-east-1%2Flambda%2Faws4_request&X-Amz-Date=20261123T120000Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature=00")
	f.Add("AWS4-HMAC-SHA256 Credential="+testKeyID+"/20261123/us-east-1/lambda/aws4_request, SignedHeaders=;;HOST;x, Signature=zz", "2026", "a=%zz&&=&b")
	v := &Verifier{Keys: testKeys, Now: func() time.Time { return signTime }}
	f.Fuzz(func(t *testing.T, auth, date, query string) {
		r := httptest.NewRequest("POST", "http://127.0.0.1/2015-03-31/functions/foo/invocations", nil)
		r.URL.RawQuery = query
		r.RequestURI = ""
		if auth != "" {
			r.Header["Authorization"] = []string{auth}
		}
		if date != "" {
			r.Header["X-Amz-Date"] = []string{date}
		}
		_, err := v.Verify(r, []byte("body"))
		if err == nil {
			t.Fatalf("Verify accepted auth=%q date=%q query=%q", auth, date, query)
		}
		var le *lambdaerr.Error
		if !errors.As(err, &le) {
			t.Fatalf("error %v is not a *lambdaerr.Error", err)
		}
		if s := le.HTTPStatus(); s < 400 || s > 499 {
			t.Fatalf("status %d for auth=%q date=%q query=%q", s, auth, date, query)
		}
	})
}
