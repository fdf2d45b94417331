package api_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ember-serverless/ember/internal/api"
	"github.com/ember-serverless/ember/internal/control"
	"github.com/ember-serverless/ember/internal/control/controltest"
	"github.com/ember-serverless/ember/internal/lambdaerr"
	"github.com/ember-serverless/ember/internal/limits"
	"github.com/ember-serverless/ember/internal/state/statetest"
)

// refuseAll refuses every request, in Precheck and in Authenticate alike, counting the calls.
type refuseAll struct{ prechecks, checks atomic.Int32 }

func (a *refuseAll) Precheck(*http.Request) error {
	a.prechecks.Add(1)
	return lambdaerr.New(lambdaerr.MissingAuthenticationTok, "Missing Authentication Token")
}

func (a *refuseAll) Authenticate(*http.Request, []byte) error {
	a.checks.Add(1)
	return lambdaerr.New(lambdaerr.MissingAuthenticationTok, "Missing Authentication Token")
}

// countingBody is a request body that counts what is read of it.
type countingBody struct {
	r    io.Reader
	read atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.read.Add(int64(n))
	return n, err
}

func (b *countingBody) Close() error { return nil }

func newLimitsServer(t *testing.T, cfg api.Config, a api.Authenticator) http.Handler {
	t.Helper()
	code := controltest.NewCodeStore()
	reg, err := control.Open(context.Background(), statetest.New(t), control.Config{}, code)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	s, err := api.New(cfg, api.WithRegistry(reg), api.WithInvoker(&fakeInvoker{}), api.WithCodeReader(code), api.WithAuthenticator(a))
	if err != nil {
		t.Fatal(err)
	}
	return s.Handler()
}

func TestAnUnauthenticatedRequestIsRefusedBeforeItsLargeBodyIsRead(t *testing.T) {
	const invokePath = "/2015-03-31/functions/fn/invocations"
	tests := []struct {
		name           string
		path           string
		size           int64
		chunked        bool
		wantPrecheck   bool
		wantUnreadBody bool
	}{
		{name: "a 50 MB code upload is refused without reading a byte of it", path: "/2015-03-31/functions",
			size: 50 << 20, wantPrecheck: true, wantUnreadBody: true},
		{name: "a 6 MB invoke is refused without reading a byte of it", path: invokePath,
			size: 6 << 20, wantPrecheck: true, wantUnreadBody: true},
		{name: "a body of unknown length is refused without reading a byte of it", path: invokePath,
			size: 1 << 20, chunked: true, wantPrecheck: true, wantUnreadBody: true},
		{name: "a small invoke is read and then refused, in one signature check", path: invokePath, size: 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := &refuseAll{}
			h := newLimitsServer(t, api.Config{}, a)
			body := &countingBody{r: io.LimitReader(zeros{}, tt.size)}
			req := httptest.NewRequest("POST", tt.path, nil)
			req.Body, req.ContentLength = body, tt.size
			if tt.chunked {
				req.ContentLength = -1
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if typ, _ := wireError(t, rec); rec.Code != http.StatusForbidden || typ != string(lambdaerr.MissingAuthenticationTok) {
				t.Errorf("answered %d %s, want 403 MissingAuthenticationTokenException", rec.Code, typ)
			}
			if got := a.prechecks.Load() == 1; got != tt.wantPrecheck {
				t.Errorf("prechecked: %v, want %v", got, tt.wantPrecheck)
			}
			if unread := body.read.Load() == 0; unread != tt.wantUnreadBody {
				t.Errorf("%d body bytes read; want none read: %v", body.read.Load(), tt.wantUnreadBody)
			}
		})
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func TestBodiesNotYetAuthenticatedShareABudget(t *testing.T) {
	const budget = 5 << 20
	tests := []struct {
		name     string
		budget   int64
		size     int
		chunked  bool
		wantCode int
		wantType lambdaerr.Type
	}{
		{name: "a body within the budget is served", budget: budget, size: 2 << 20, wantCode: http.StatusOK},
		{name: "a body of unknown length within the budget is served", budget: budget, size: 2<<20 + 17, chunked: true,
			wantCode: http.StatusOK},
		{name: "a body past the budget is refused with 429, to be retried", budget: budget, size: budget + 1<<19,
			wantCode: http.StatusTooManyRequests, wantType: lambdaerr.TooManyRequests},
		{name: "a body of unknown length past the invoke limit is too large", size: limits.MaxSyncPayload + 1, chunked: true,
			wantCode: http.StatusRequestEntityTooLarge, wantType: lambdaerr.RequestTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newLimitsServer(t, api.Config{MaxUnauthenticatedBytes: tt.budget}, api.AllowAll{})
			payload := []byte(`"` + strings.Repeat("a", tt.size-2) + `"`)
			req := httptest.NewRequest("POST", "/2015-03-31/functions/fn/invocations", nil)
			req.Body, req.ContentLength = io.NopCloser(bytes.NewReader(payload)), int64(len(payload))
			if tt.chunked {
				req.ContentLength = -1
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.wantCode {
				t.Fatalf("answered %d %.200s, want %d", rec.Code, rec.Body, tt.wantCode)
			}
			if tt.wantType != "" {
				if typ, _ := wireError(t, rec); typ != string(tt.wantType) {
					t.Errorf("error %s, want %s", typ, tt.wantType)
				}
			} else if !bytes.Equal(rec.Body.Bytes(), payload) {
				t.Errorf("the invoke's payload came back %d bytes, want %d", rec.Body.Len(), len(payload))
			}
		})
	}
}
