package server

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/ember-serverless/ember/internal/testenv"
)

// waitCount polls count for up to a minute until it returns want; what names what it counts.
func waitCount(t *testing.T, what string, want int64, count func() int64) {
	t.Helper()
	testenv.CheckFor(t, time.Minute, 5*time.Millisecond, func() error {
		if got := count(); got != want {
			return fmt.Errorf("%d %s, want %d", got, what, want)
		}
		return nil
	})
}

// busyConns counts l's connections with a request in progress.
func busyConns(l *connCap) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := int64(0)
	for c := range l.conns {
		if c.busy.Load() {
			n++
		}
	}
	return n
}

func TestTheConnectionCapMakesRoomByClosingTheLongestIdle(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := capConns(ln, 2)
	release := make(chan struct{})
	srv := &http.Server{ConnState: l.ConnState, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/block" {
			<-release
		}
	})}
	go srv.Serve(l)
	defer srv.Close()
	defer close(release)

	dial := func() net.Conn {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	closedByServer := func(c net.Conn) bool {
		c.SetReadDeadline(time.Now().Add(time.Minute))
		_, err := c.Read(make([]byte, 1))
		return err == io.EOF
	}

	silent := dial()
	waitCount(t, "connections held", 1, func() int64 { return int64(l.open()) })
	busy := dial()
	io.WriteString(busy, "GET /block HTTP/1.1\r\nHost: x\r\n\r\n")
	waitCount(t, "busy connections", 1, func() int64 { return busyConns(l) }) // the second

	t.Run("at the cap, a new connection takes the place of a silent one", func(t *testing.T) {
		dial()
		if !closedByServer(silent) {
			t.Error("the silent connection was not closed")
		}
		if l.evicted.Load() != 1 || l.open() != 2 {
			t.Errorf("evicted %d, open %d; want 1 and 2", l.evicted.Load(), l.open())
		}
	})
	t.Run("a connection with a request in progress is never closed for a new one", func(t *testing.T) {
		// Make the newest connection busy too: now neither may go.
		third := dial()                                                                         // takes the place of the idle one dialed above
		waitCount(t, "connections evicted", 2, func() int64 { return int64(l.evicted.Load()) }) // the idle one too
		io.WriteString(third, "GET /block HTTP/1.1\r\nHost: x\r\n\r\n")
		waitCount(t, "busy connections", 2, func() int64 { return busyConns(l) }) // both held ones
		if !closedByServer(dial()) {
			t.Error("a connection past a cap of busy ones was not closed")
		}
		if l.refused.Load() != 1 || l.open() != 2 {
			t.Errorf("refused %d, open %d; want 1 and 2", l.refused.Load(), l.open())
		}
	})
}
