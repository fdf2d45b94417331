//go:build linux

package gvisor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"

	"github.com/ember-serverless/ember/internal/sandbox"
)

// dialer lets the server dial into the sandbox's loopback. The sandbox has no network the
// host can reach, so the proxy inside connects out to the sandbox's dial socket: first a
// control connection ("ctl"), on which the server asks for "PORT ID"; the proxy dials
// 127.0.0.1:PORT inside and brings the connection back on a new connection to the same socket,
// starting with "conn ID" (and the dial's error, if it failed).
type dialer struct {
	ln net.Listener

	mu      sync.Mutex
	ctl     net.Conn
	ready   chan struct{} // closed when ctl is set
	nextID  int
	pending map[int]chan dialed
}

type dialed struct {
	c   net.Conn
	err error
}

func newDialer(ln net.Listener) *dialer {
	d := &dialer{ln: ln, ready: make(chan struct{}), pending: map[int]chan dialed{}}
	go d.accept()
	return d
}

func (d *dialer) accept() {
	for {
		c, err := d.ln.Accept()
		if err != nil {
			return
		}
		go d.handle(c)
	}
}

// handle reads a connection's first line, byte by byte so that nothing after it is consumed.
func (d *dialer) handle(c net.Conn) {
	var line []byte
	var b [1]byte
	for {
		if _, err := c.Read(b[:]); err != nil || len(line) > 512 {
			c.Close()
			return
		}
		if b[0] == '\n' {
			break
		}
		line = append(line, b[0])
	}
	f := strings.SplitN(string(line), " ", 3)
	switch {
	case f[0] == "ctl":
		d.mu.Lock()
		if d.ctl != nil {
			d.mu.Unlock()
			c.Close()
			return
		}
		d.ctl = c
		close(d.ready)
		d.mu.Unlock()
	case f[0] == "conn" && len(f) >= 2:
		id, _ := strconv.Atoi(f[1])
		d.mu.Lock()
		ch := d.pending[id]
		delete(d.pending, id)
		d.mu.Unlock()
		if ch == nil {
			c.Close()
			return
		}
		if len(f) == 3 {
			c.Close()
			ch <- dialed{err: errors.New(f[2])}
			return
		}
		ch <- dialed{c: c}
	default:
		c.Close()
	}
}

// dial connects to 127.0.0.1:port inside the sandbox.
func (d *dialer) dial(ctx context.Context, done <-chan struct{}, port int) (net.Conn, error) {
	select {
	case <-d.ready:
	case <-done:
		return nil, sandbox.ErrDestroyed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	ch := make(chan dialed, 1)
	d.mu.Lock()
	d.nextID++
	id := d.nextID
	d.pending[id] = ch
	_, err := fmt.Fprintf(d.ctl, "%d %d\n", port, id)
	d.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("gvisor: dial into the sandbox: %w", err)
	}
	forget := func() {
		d.mu.Lock()
		delete(d.pending, id)
		d.mu.Unlock()
	}
	select {
	case r := <-ch:
		if r.err != nil {
			return nil, fmt.Errorf("gvisor: dial 127.0.0.1:%d in the sandbox: %w", port, r.err)
		}
		return r.c, nil
	case <-done:
		forget()
		return nil, sandbox.ErrDestroyed
	case <-ctx.Done():
		forget()
		return nil, ctx.Err()
	}
}

func (d *dialer) close() {
	d.ln.Close()
	d.mu.Lock()
	if d.ctl != nil {
		d.ctl.Close()
	}
	d.mu.Unlock()
}

// Dial connects to addr on the sandbox's own loopback, as a process inside would:
// sandbox.localdomain and 127.0.0.1 are the sandbox's; only TCP is offered.
func (s *gvisored) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("gvisor: %w", err)
	}
	if host != sandbox.SandboxHostname && host != "127.0.0.1" && host != "localhost" {
		return nil, fmt.Errorf("gvisor: dial %s: only the sandbox's own loopback can be dialled", addr)
	}
	if network != "tcp" && network != "tcp4" {
		return nil, fmt.Errorf("gvisor: dial %s %s: only tcp", network, addr)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port <= 0 || port > 65535 {
		return nil, fmt.Errorf("gvisor: dial %s: bad port", addr)
	}
	s.Mu.Lock()
	err = s.Alive()
	s.Mu.Unlock()
	if err != nil {
		return nil, err
	}
	return s.dialer.dial(ctx, s.Done(), port)
}
