package harness

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

var testCreds = aws.Credentials{AccessKeyID: "AKIDTEST", SecretAccessKey: "secret"}

// echoServer answers like aws-lambda-go behind a relay: the event back, with a newline.
func echoServer(t *testing.T, answer func(w http.ResponseWriter, body []byte)) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if auth := r.Header.Get("Authorization"); !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential=AKIDTEST/") ||
			!strings.Contains(auth, "/us-east-1/lambda/aws4_request") {
			http.Error(w, "unsigned: "+auth, http.StatusForbidden)
			return
		}
		answer(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestClientInvoke(t *testing.T) {
	tests := []struct {
		name    string
		answer  func(w http.ResponseWriter, body []byte)
		wantErr bool
	}{
		{"a signed request answered with its own event succeeds", func(w http.ResponseWriter, body []byte) {
			w.Write(append(body, '\n'))
		}, false},
		{"a status other than 200 is an error", func(w http.ResponseWriter, body []byte) {
			w.WriteHeader(http.StatusTooManyRequests)
			w.Write(body)
		}, true},
		{"a function error is an error", func(w http.ResponseWriter, body []byte) {
			w.Header().Set("X-Amz-Function-Error", "Unhandled")
			w.Write(body)
		}, true},
		{"an answer meant for another request is an error", func(w http.ResponseWriter, body []byte) {
			w.Write([]byte(`{"seq":0}`))
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := echoServer(t, tt.answer)
			c := NewClient(testCreds, "us-east-1", 2)
			_, err := c.Invoke(context.Background(), srv.URL+"/2015-03-31/functions/echo/invocations")
			if tt.wantErr != (err != nil) {
				t.Fatalf("Invoke error = %v, want error: %v", err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, ErrInvoke) {
				t.Errorf("error %v does not wrap ErrInvoke", err)
			}
		})
	}
}

func TestRunSequentialCountsEveryInvoke(t *testing.T) {
	n := 0
	srv := echoServer(t, func(w http.ResponseWriter, body []byte) {
		n++ // the handler runs one request at a time: the client is sequential
		if n%4 == 0 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		w.Write(body)
	})
	c := NewClient(testCreds, "us-east-1", 2)
	got := c.RunSequential(context.Background(), srv.URL, 20)
	if len(got.Samples) != 15 || got.Errors != 5 || got.FirstErr == nil {
		t.Errorf("RunSequential = %d samples, %d errors, first %v; want 15, 5 and an error", len(got.Samples), got.Errors, got.FirstErr)
	}
}

func TestRunConcurrentKeepsALatencyForEverySuccess(t *testing.T) {
	srv := echoServer(t, func(w http.ResponseWriter, body []byte) { w.Write(body) })
	c := NewClient(testCreds, "us-east-1", 4)
	got := c.RunConcurrent(context.Background(), srv.URL, 4, 20*time.Millisecond)
	if got.Count == 0 || got.Count != len(got.Samples) || got.Errors != 0 || got.Clients != 4 || got.Elapsed <= 0 {
		t.Errorf("RunConcurrent = %+v with %d samples, want successes each with a sample and no errors",
			got.Throughput, len(got.Samples))
	}
}
