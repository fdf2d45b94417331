package auth

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ember-serverless/ember/internal/lambdaerr"
)

func TestVerifyAcceptsAWSDocumentationExamples(t *testing.T) {
	// Known answers from AWS's SigV4 documentation and test suite, independent of any signer
	// library.
	keys := StaticKeys{"AKIDEXAMPLE": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}
	at := time.Date(2015, 8, 30, 12, 36, 0, 0, time.UTC)
	cases := []struct {
		name, target, host string
		headers            map[string]string
		auth               string
	}{
		{"IAM ListUsers verifies", "/?Action=ListUsers&Version=2010-05-08", "iam.amazonaws.com",
			map[string]string{"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
			"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"},
		{"get-vanilla verifies", "/", "example.amazonaws.com", nil,
			"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", c.target, nil)
			r.Host = c.host
			r.Header.Set("X-Amz-Date", "20150830T123600Z")
			for k, v := range c.headers {
				r.Header.Set(k, v)
			}
			r.Header.Set("Authorization", c.auth)
			v := &Verifier{Keys: keys, Now: func() time.Time { return at }}
			if _, err := v.Verify(r, nil); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestRequestPathIsThePathAsSent(t *testing.T) {
	cases := []struct {
		name string
		r    func() *http.Request
		want string
	}{
		{"an origin-form target keeps its escapes", func() *http.Request {
			return httptest.NewRequest("GET", invokePath+"?Qualifier=1", nil)
		}, invokePath},
		{"an absolute-form target loses scheme and host", func() *http.Request {
			r := httptest.NewRequest("GET", "/", nil)
			r.RequestURI = "http://127.0.0.1:9777" + invokePath + "?a=b"
			return r
		}, invokePath},
		{"an absolute-form target without a path is /", func() *http.Request {
			r := httptest.NewRequest("GET", "/", nil)
			r.RequestURI = "http://127.0.0.1:9777"
			return r
		}, "/"},
		{"a client-side request uses the URL's escaped path", func() *http.Request {
			r, _ := http.NewRequest("GET", "http://127.0.0.1"+invokePath, nil)
			return r
		}, invokePath},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := requestPath(c.r()); got != c.want {
				t.Fatalf("requestPath = %q, want %q", got, c.want)
			}
		})
	}
}

func TestCanonicalURIEncodesThePathAgain(t *testing.T) {
	for in, want := range map[string]string{
		"":                         "/",
		"/":                        "/",
		"/2015-03-31/functions/":   "/2015-03-31/functions/",
		"/f/arn%3Aaws%3Alambda":    "/f/arn%253Aaws%253Alambda",
		"/a b/$LATEST/~x_y.z-":     "/a%20b/%24LATEST/~x_y.z-",
		"/caf\xc3\xa9":             "/caf%C3%A9",
		"/semi;colon,comma=equals": "/semi%3Bcolon%2Ccomma%3Dequals",
	} {
		if got := string(appendCanonicalURI(nil, in)); got != want {
			t.Errorf("canonical URI of %q = %q, want %q", in, got, want)
		}
	}
}

func TestNormalizePathRemovesDotAndEmptySegments(t *testing.T) {
	for in, want := range map[string]string{
		"/a/b":         "/a/b",
		"/a//b/":       "/a/b/",
		"/a/./b":       "/a/b",
		"/a/../b":      "/b",
		"/../a":        "/a",
		"//":           "/",
		"/a/b/..":      "/a",
		"/.hidden/x":   "/.hidden/x",
		"/a/.../b":     "/a/.../b",
		"/a/b/./":      "/a/b/",
		"/a/%2E%2E/b/": "/a/%2E%2E/b/",
	} {
		if got, _ := normalizePath(in); got != want {
			t.Errorf("normalizePath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCanonicalQueryDecodesAndEncodesEachComponent(t *testing.T) {
	cases := []struct{ name, raw, want string }{
		{"an empty query is empty", "", ""},
		{"parameters sort by name", "b=2&a=1", "a=1&b=2"},
		{"repeated names sort by encoded value", "k=a-b&k=a%2Fb", "k=a%2Fb&k=a-b"},
		{"a plus is a space", "Marker=a+b", "Marker=a%20b"},
		{"lowercase escapes become uppercase", "Marker=a%2fb", "Marker=a%2Fb"},
		{"escaped unreserved characters are unescaped", "Q=%41%7E", "Q=A~"},
		{"reserved characters are escaped", "Q=$LATEST&R=a:b/c", "Q=%24LATEST&R=a%3Ab%2Fc"},
		{"a name without a value gets an empty one", "flag&a=1", "a=1&flag="},
		{"empty pieces are skipped", "&&a=1&", "a=1"},
		{"a broken escape is kept literally", "a=%zz&b=%4", "a=%25zz&b=%254"},
		{"the signature of a presigned URL is left out", "X-Amz-Signature=ab&X-Amz-Date=1", "X-Amz-Date=1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := string(appendCanonicalQuery(nil, c.raw, true))
			if got != c.want {
				t.Fatalf("canonical query of %q = %q, want %q", c.raw, got, c.want)
			}
		})
	}
}

func TestCanonicalHeadersTakeValuesFromWhereGoKeepsThem(t *testing.T) {
	r := httptest.NewRequest("POST", "/", strings.NewReader("12345"))
	r.Host = "example.com:9777"
	r.Header["x_odd_name"] = []string{"kept as sent"} // not canonicalised by the server
	r.Header.Add("X-Multi", " one ")
	r.Header.Add("X-Multi", "two   three")
	r.TransferEncoding = []string{"chunked"}
	got, hasHost, ok := appendCanonicalHeaders(nil, r, "content-length;host;transfer-encoding;x-missing;x-multi;x_odd_name")
	want := "content-length:5\nhost:example.com:9777\ntransfer-encoding:chunked\nx-missing:\nx-multi:one,two three\nx_odd_name:kept as sent\n"
	if !ok || !hasHost || string(got) != want {
		t.Fatalf("canonical headers = %q (host %v, ok %v), want %q", got, hasHost, ok, want)
	}
	for _, bad := range []string{"", "host;", "Host", "host;;date", "a b", "a:b"} {
		if _, _, ok := appendCanonicalHeaders(nil, r, bad); ok {
			t.Errorf("signed headers %q were accepted", bad)
		}
	}
}

func TestVerifyNamesTheMissingPresignParameters(t *testing.T) {
	r := httptest.NewRequest("GET", "/?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20261123T120000Z", nil)
	_, err := (&Verifier{Keys: testKeys}).Verify(r, nil)
	want := "AWS query-string parameters must include 'X-Amz-Credential', 'X-Amz-Signature', 'X-Amz-SignedHeaders'. Re-examine the query-string parameters."
	if le := asError(t, err); le.Type != IncompleteSignature || le.Message != want {
		t.Fatalf("Verify = %v, want %s: %s", err, IncompleteSignature, want)
	}
}

func TestParseDateHeaderReadsTheFormsClientsSend(t *testing.T) {
	want := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	for _, s := range []string{
		"Mon, 23 Nov 2026 12:00:00 GMT",
		"Mon, 23 Nov 2026 12:00:00 -0000",
		"Monday, 23-Nov-26 12:00:00 GMT",
		"20261123T120000Z",
		"2026-11-23T12:00:00Z",
	} {
		got, err := parseDateHeader(s)
		if err != nil || !got.Equal(want) {
			t.Errorf("parseDateHeader(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
	if _, err := parseDateHeader("yesterday"); err == nil {
		t.Error("parseDateHeader accepted \"yesterday\"")
	}
}

func TestFormatWindowWritesMinutesOrSeconds(t *testing.T) {
	for d, want := range map[time.Duration]string{
		15 * time.Minute: "15 min.", 5 * time.Minute: "5 min.", 90 * time.Second: "90 sec.",
	} {
		if got := formatWindow(d); got != want {
			t.Errorf("formatWindow(%v) = %q, want %q", d, got, want)
		}
	}
}

func asError(t *testing.T, err error) *lambdaerr.Error {
	t.Helper()
	var le *lambdaerr.Error
	if !errors.As(err, &le) {
		t.Fatalf("error %v is not a *lambdaerr.Error", err)
	}
	return le
}

func TestVerifyRefusesMalformedPresignedQueries(t *testing.T) {
	cred := "X-Amz-Credential=" + testKeyID + "%2F20261123%2Fus-east-1%2Flambda%2Faws4_request"
	base := "X-Amz-SignedHeaders=host&X-Amz-Signature=" + strings.Repeat("00", 32)
	cases := []struct{ name, query, want string }{
		{"another algorithm is unsupported", "X-Amz-Algorithm=AWS4-HMAC-SHA512&" + cred + "&X-Amz-Date=20261123T120000Z&" + base,
			"Unsupported AWS 'algorithm': 'AWS4-HMAC-SHA512'."},
		{"a date that is not ISO 8601 basic is refused", "X-Amz-Algorithm=AWS4-HMAC-SHA256&" + cred + "&X-Amz-Date=2026-11-23&" + base,
			"X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\""},
		{"an expiry that is not a number is refused", "X-Amz-Algorithm=AWS4-HMAC-SHA256&" + cred + "&X-Amz-Date=20261123T120000Z&X-Amz-Expires=soon&" + base,
			"X-Amz-Expires should be a number"},
		{"a negative expiry is refused", "X-Amz-Algorithm=AWS4-HMAC-SHA256&" + cred + "&X-Amz-Date=20261123T120000Z&X-Amz-Expires=-1&" + base,
			"X-Amz-Expires must be non-negative"},
		{"a malformed credential is refused", "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=abc&X-Amz-Date=20261123T120000Z&" + base,
			"Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got 'abc'"},
		{"a query Go cannot parse is refused", "X-Amz-Algorithm=AWS4-HMAC-SHA256;x", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/?"+c.query, nil)
			_, err := (&Verifier{Keys: testKeys, Now: func() time.Time { return signTime }}).Verify(r, nil)
			le := asError(t, err)
			if le.Type != IncompleteSignature || le.HTTPStatus() != 400 || (c.want != "" && le.Message != c.want) {
				t.Fatalf("Verify = %s (%d): %q, want %s: %q", le.Type, le.HTTPStatus(), le.Message, IncompleteSignature, c.want)
			}
		})
	}
}
