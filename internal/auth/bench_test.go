package auth

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// signedInvoke returns an Invoke request as it arrives at the server, signed by the Go SDK.
func signedInvoke(tb testing.TB, body []byte) *http.Request {
	tb.Helper()
	signReq, err := http.NewRequest("POST", "http://127.0.0.1:9777"+invokePath+"?Qualifier=%24LATEST", bytes.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	signReq.Header.Set("X-Amz-Invocation-Type", "RequestResponse")
	signReq.Header.Set("Content-Type", "application/json")
	signReq.Header.Set("User-Agent", "aws-sdk-go-v2/1.48.0")
	creds := aws.Credentials{AccessKeyID: testKeyID, SecretAccessKey: testSecret}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, signReq, sha256Hex(body), "lambda", testRegion, signTime); err != nil {
		tb.Fatal(err)
	}
	r := httptest.NewRequest("POST", signReq.URL.RequestURI(), bytes.NewReader(body))
	r.Host = signReq.Host
	for k, vs := range signReq.Header {
		r.Header[k] = vs
	}
	r.Header.Set("Content-Length", "17")
	return r
}

func BenchmarkVerifyInvoke(b *testing.B) {
	body := []byte(`{"hello":"world"}`)
	r := signedInvoke(b, body)
	v := &Verifier{Keys: testKeys, Now: func() time.Time { return signTime }}
	if _, err := v.Verify(r, body); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := v.Verify(r, body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyInvokeParallel(b *testing.B) {
	body := []byte(`{"hello":"world"}`)
	r := signedInvoke(b, body)
	v := &Verifier{Keys: testKeys, Now: func() time.Time { return signTime }}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := v.Verify(r, body); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func TestVerifyDoesNotAllocateOnTheHotPath(t *testing.T) {
	body := []byte(`{"hello":"world"}`)
	r := signedInvoke(t, body)
	v := &Verifier{Keys: testKeys, Now: func() time.Time { return signTime }}
	if _, err := v.Verify(r, body); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := v.Verify(r, body); err != nil {
			t.Fatal(err)
		}
	})
	// None is needed (the key cache hit, pooled buffers, stack hashes); allow one for
	// instrumented builds.
	if allocs > 1 {
		t.Errorf("Verify allocates %.0f times per call, want none", allocs)
	}
	t.Logf("Verify allocates %.0f times per call", allocs)
}
