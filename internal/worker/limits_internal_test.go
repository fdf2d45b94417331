package worker

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ember-serverless/ember/internal/testenv"
)

func loopback(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

func TestTheConnectionBudgetClosesConnectionsPastIt(t *testing.T) {
	const max = 4
	l := limitConns(loopback(t), max)
	accepted := make(chan net.Conn, 2*max)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	var clients []net.Conn
	t.Cleanup(func() {
		for _, c := range clients {
			c.Close()
		}
	})
	dial := func() net.Conn {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
		return c
	}
	for i := 0; i < max+3; i++ {
		dial()
	}
	testenv.CheckFor(t, time.Minute, 5*time.Millisecond, func() error {
		if n := l.refused.Load(); n != 3 {
			return fmt.Errorf("%d connections refused, want 3", n)
		}
		return nil
	})
	if len(accepted) != max || l.open.Load() != max {
		t.Fatalf("%d connections accepted, %d open; want %d", len(accepted), l.open.Load(), max)
	}

	t.Run("a refused connection is closed", func(t *testing.T) {
		last := clients[len(clients)-1]
		last.SetReadDeadline(time.Now().Add(time.Minute))
		if _, err := last.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
			t.Errorf("read on a connection past the budget: %v, want EOF", err)
		}
	})
	t.Run("closing a connection makes room for another", func(t *testing.T) {
		c := <-accepted
		c.Close()
		c.Close() // a second close gives nothing back twice
		dial()
		testenv.CheckFor(t, time.Minute, 5*time.Millisecond, func() error {
			if n := len(accepted); n != max {
				return fmt.Errorf("%d connections accepted, want %d with the new one", n, max)
			}
			return nil
		})
		if l.open.Load() != max || l.refused.Load() != 3 {
			t.Errorf("open %d refused %d; want %d and 3", l.open.Load(), l.refused.Load(), max)
		}
	})
}

func TestTheRuntimeAPIServerRefusesHeadersPastItsLimit(t *testing.T) {
	ln := loopback(t)
	srv := runtimeAPIServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}), slog.New(slog.DiscardHandler))
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	for _, tt := range []struct {
		name   string
		size   int
		status int
	}{
		{"a request with ordinary headers is served", 200, http.StatusOK},
		{"a request whose headers pass the limit is answered 431", MaxRuntimeHeaderBytes + 8192, http.StatusRequestHeaderFieldsTooLarge},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", "http://"+ln.Addr().String()+"/2018-06-01/runtime/invocation/next", nil)
			req.Header.Set("X-Junk", strings.Repeat("a", tt.size))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.status)
			}
		})
	}
}

func TestTheBodyBudgetBoundsBytesInFlightAcrossRequests(t *testing.T) {
	b := &bodyBudget{max: 100}
	t.Run("a body within the budget is read whole and its bytes given back", func(t *testing.T) {
		got, err := b.readAll(strings.NewReader(strings.Repeat("x", 80)), 90)
		if err != nil || len(got) != 80 || b.inFlight.Load() != 0 {
			t.Errorf("read %d bytes, err %v, in flight after %d", len(got), err, b.inFlight.Load())
		}
	})
	t.Run("a body read past its limit stops one byte after it", func(t *testing.T) {
		got, err := b.readAll(strings.NewReader(strings.Repeat("x", 95)), 10)
		if err != nil || len(got) != 11 {
			t.Errorf("read %d bytes, err %v; want 11", len(got), err)
		}
	})
	t.Run("a body that would take the sandbox past its budget fails", func(t *testing.T) {
		// Another request holds 60 bytes of the budget while this one reads.
		b.inFlight.Add(60)
		defer b.inFlight.Add(-60)
		_, err := b.readAll(bytes.NewReader(make([]byte, 50)), 90)
		if !errors.Is(err, errBodyBudget) {
			t.Errorf("err %v, want errBodyBudget", err)
		}
		if b.inFlight.Load() != 60 {
			t.Errorf("in flight %d after the failed read, want the other request's 60", b.inFlight.Load())
		}
	})
}

func TestTheHeaderTimeoutSparesALongPollAndAnIdleConnection(t *testing.T) {
	ln := loopback(t)
	release := make(chan struct{})
	srv := runtimeAPIServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/next" {
			<-release // a long poll: the headers arrived long ago
		}
		io.WriteString(w, "event")
	}), slog.New(slog.DiscardHandler))
	srv.ReadHeaderTimeout = 20 * time.Millisecond
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Minute))
	br := bufio.NewReader(c)
	get := func(path string) string {
		t.Helper()
		io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return string(b)
	}
	// The long poll outlives many header timeouts before it is answered.
	go func() {
		time.Sleep(10 * srv.ReadHeaderTimeout)
		close(release)
	}()
	if got := get("/next"); got != "event" {
		t.Errorf("the long poll answered %q", got)
	}
	// The connection then idles for many header timeouts, and serves the next request.
	idle := time.NewTimer(10 * srv.ReadHeaderTimeout)
	<-idle.C
	if got := get("/other"); got != "event" {
		t.Errorf("after idling, the connection answered %q", got)
	}
}
