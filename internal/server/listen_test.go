package server

import (
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// eventually polls f for up to a minute.
func eventually(t *testing.T, what string, f func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if f() {
			return
		}
	}
	t.Fatalf("%s: not within a minute", what)
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
	eventually(t, "the first connection held", func() bool { return l.open() == 1 })
	busy := dial()
	io.WriteString(busy, "GET /block HTTP/1.1\r\nHost: x\r\n\r\n")
	eventually(t, "the second connection busy", func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		for c := range l.conns {
			if c.busy.Load() {
				return true
			}
		}
		return false
	})

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
		third := dial() // takes the place of the idle one dialed above
		eventually(t, "the idle one evicted", func() bool { return l.evicted.Load() == 2 })
		io.WriteString(third, "GET /block HTTP/1.1\r\nHost: x\r\n\r\n")
		eventually(t, "both held connections busy", func() bool {
			l.mu.Lock()
			defer l.mu.Unlock()
			n := 0
			for c := range l.conns {
				if c.busy.Load() {
					n++
				}
			}
			return n == 2
		})
		if !closedByServer(dial()) {
			t.Error("a connection past a cap of busy ones was not closed")
		}
		if l.refused.Load() != 1 || l.open() != 2 {
			t.Errorf("refused %d, open %d; want 1 and 2", l.refused.Load(), l.open())
		}
	})
}
