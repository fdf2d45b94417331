package api

import (
	"io"
	"net/http"
	"time"

	"github.com/ember-serverless/ember/internal/lambdaerr"
	"github.com/ember-serverless/ember/internal/limits"
)

// What one client may hold of the API's server before it has proven who it is, in one place.
// The listener's connection cap and the http.Server's timeouts are applied by whoever serves
// Handler (internal/server); the body limits by the handler itself.
const (
	// MaxHeaderBytes bounds a request's header block (net/http adds 4 KB of slack); a request
	// past it is answered 431. Lambda's largest header, X-Amz-Client-Context, is 3,583 bytes.
	MaxHeaderBytes = 64 << 10
	// ReadHeaderTimeout is how long a request's headers may take to arrive, from its first byte
	// (or from the connection's accept).
	ReadHeaderTimeout = 10 * time.Second
	// IdleTimeout closes a kept-alive connection idle for this long; longer than the AWS SDKs'
	// own idle timeouts (90 s in the SDK for Go), so that they close first.
	IdleTimeout = 2 * time.Minute
	// BodyTimeout is how long a request body may take to arrive, plus one second for every
	// megabyte its Content-Length announces (a 70 MB code upload gets 2 minutes 10 seconds).
	BodyTimeout = time.Minute
	// DefaultMaxUnauthenticatedBytes bounds the request body bytes the API holds at once for
	// requests whose signature is not yet verified, over every connection together. A request
	// that would go past it is refused with 429 TooManyRequestsException (the SDKs retry it).
	DefaultMaxUnauthenticatedBytes = 256 << 20
	// precheckAbove is the body size past which (or with an unknown length) a request's
	// signature is checked as far as it can be before its body is read (auth.Verifier.Precheck).
	precheckAbove = 64 << 10
	// readChunk is the most the API allocates for a body ahead of its bytes arriving.
	readChunk = 1 << 20
)

// Prechecker is an Authenticator that can refuse a request before its body is read.
type Prechecker interface {
	Precheck(r *http.Request) error
}

// Precheck implements Prechecker.
func (a VerifierAuth) Precheck(r *http.Request) error { return a.V.Precheck(r) }

var errBusy = &lambdaerr.Error{Type: lambdaerr.TooManyRequests, Status: http.StatusTooManyRequests,
	Message: "Too many request bytes are arriving at once; retry the request."}

// bodyDeadline is when a body of n announced bytes must have arrived by.
func bodyDeadline(now time.Time, n int64) time.Time {
	if n < 0 {
		n = limits.MaxCodeRequest
	}
	return now.Add(BodyTimeout + time.Duration(n>>20)*time.Second)
}

// reserve takes n bytes of the unauthenticated body budget; it reports false, taking nothing,
// when that would pass the budget.
func (s *Server) reserve(n int64) bool {
	if s.inFlight.Add(n) > s.cfg.MaxUnauthenticatedBytes {
		s.inFlight.Add(-n)
		return false
	}
	return true
}

// readBody reads the whole body, up to limit bytes. A body of known length is read into one
// slice of that length, grown as its bytes arrive rather than allocated ahead of them; the
// bytes read are counted in *held against the unauthenticated body budget (the caller gives
// them back).
func (s *Server) readBody(r *http.Request, limit int64, held *int64) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	defer r.Body.Close()
	n := r.ContentLength
	if n > limit {
		return nil, errTooLarge
	}
	if n >= 0 && n <= readChunk {
		if !s.reserve(n) {
			return nil, errBusy
		}
		*held += n
		buf := make([]byte, n)
		if _, err := io.ReadFull(r.Body, buf); err != nil {
			return nil, errUnreadable
		}
		return buf, nil
	}
	want := n // the length to read, or -1 to read to the end
	if want < 0 {
		n = limit + 1
	}
	c := min(n, readChunk)
	if !s.reserve(c) {
		return nil, errBusy
	}
	*held += c
	buf := make([]byte, 0, c)
	for {
		if len(buf) == cap(buf) {
			if int64(len(buf)) >= n {
				break
			}
			c := min(n, 2*int64(cap(buf)))
			if !s.reserve(c - int64(cap(buf))) {
				return nil, errBusy
			}
			*held += c - int64(cap(buf))
			grown := make([]byte, len(buf), c)
			copy(grown, buf)
			buf = grown
		}
		m, err := r.Body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, errUnreadable
		}
	}
	if want >= 0 && int64(len(buf)) != want {
		return nil, errUnreadable
	}
	if int64(len(buf)) > limit {
		return nil, errTooLarge
	}
	return buf, nil
}

var errUnreadable = lambdaerr.New(lambdaerr.InvalidRequestContent, "Could not read request body")
