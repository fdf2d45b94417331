package worker

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ember-serverless/ember/internal/limits"
)

// What one sandbox may hold of the server through its Runtime API. The server serves every
// sandbox's Runtime API itself, so without these a function (or the children it forks) could
// take the server's file descriptors or memory from every other function. Past a budget, the
// sandbox's own requests fail; nobody else's.
const (
	// MaxRuntimeConns is how many connections a sandbox may hold open to its Runtime API at
	// once (the runtime's, and each extension's). A connection past it is closed as soon as it
	// is accepted. A runtime uses one or two; Lambda allows ten extensions, each with one or
	// two.
	MaxRuntimeConns = 32
	// MaxRuntimeHeaderBytes bounds the header block of one Runtime API request (net/http adds
	// 4 KB of slack); a request past it is answered 431. Runtime clients send a few hundred
	// bytes.
	MaxRuntimeHeaderBytes = 64 << 10
	// RuntimeHeaderTimeout is how long a request's headers may take to arrive once its first
	// byte has (or once its connection was accepted). It does not bound the long-polling
	// /next, which waits for minutes after its headers arrived, nor an idle connection
	// between requests.
	RuntimeHeaderTimeout = 10 * time.Second
	// MaxRuntimeBodyBytes bounds the request body bytes one sandbox may have in flight, over
	// every connection together: one full response (6 MB) and an error document's worth more.
	// A body that would go past it fails.
	MaxRuntimeBodyBytes = limits.MaxSyncPayload + 2*maxErrorSize
)

// runtimeAPIServer is the HTTP server of one sandbox's Runtime API, with its limits.
func runtimeAPIServer(h http.Handler, logger *slog.Logger) *http.Server {
	return &http.Server{Handler: h, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
		ReadHeaderTimeout: RuntimeHeaderTimeout, MaxHeaderBytes: MaxRuntimeHeaderBytes}
}

// errBodyBudget is what reading a Runtime API body fails with when the sandbox's bodies in
// flight would exceed MaxRuntimeBodyBytes.
var errBodyBudget = errors.New("the sandbox's Runtime API requests have too many body bytes in flight")

// connLimit is a listener that holds at most max connections open: one accepted past that is
// closed at once, and the listener goes on accepting.
type connLimit struct {
	net.Listener
	max     int64
	open    atomic.Int64
	refused atomic.Int64
}

func limitConns(ln net.Listener, max int) *connLimit {
	return &connLimit{Listener: ln, max: int64(max)}
}

// Accept returns the next connection within the limit.
func (l *connLimit) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.open.Add(1) <= l.max {
			return &limitedConn{Conn: c, l: l}, nil
		}
		l.open.Add(-1)
		l.refused.Add(1)
		c.Close()
	}
}

// limitedConn gives its place back to its listener when closed.
type limitedConn struct {
	net.Conn
	l    *connLimit
	once sync.Once
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.open.Add(-1) })
	return err
}

// bodyBudget counts the request body bytes a sandbox has in flight.
type bodyBudget struct {
	inFlight atomic.Int64
	max      int64
}

// readAll reads r to its end, or up to limit+1 bytes, counting what it holds against the
// budget; the bytes are given back when it returns (the caller owns the slice, whose size
// limit already bounds). It fails with errBodyBudget when the budget would be exceeded.
func (b *bodyBudget) readAll(r io.Reader, limit int64) ([]byte, error) {
	br := budgetReader{r: io.LimitedReader{R: r, N: limit + 1}, b: b}
	body, err := io.ReadAll(&br)
	b.inFlight.Add(-br.n)
	return body, err
}

// budgetReader reads through a limit, counting what it read against a budget.
type budgetReader struct {
	r io.LimitedReader
	b *bodyBudget
	n int64
}

func (br *budgetReader) Read(p []byte) (int, error) {
	n, err := br.r.Read(p)
	if n > 0 {
		br.n += int64(n)
		if br.b.inFlight.Add(int64(n)) > br.b.max {
			return n, errBodyBudget
		}
	}
	return n, err
}
