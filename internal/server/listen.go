package server

import (
	"net"
	"net/http"
	"sync"
	"sync/atomic"
)

// DefaultMaxConnections is how many connections the API holds open at once by default.
const DefaultMaxConnections = 1024

// connCap is a listener holding at most max connections open. At the cap, a new connection
// takes the place of the one that has waited longest without a request in progress (accepted
// and silent, or kept alive and idle); when every connection is in the middle of a request,
// the new one is closed. So clients that open connections and leave them idle can neither
// take every file descriptor nor shut others out, and a request in progress is never cut.
// Its ConnState must be the http.Server's ConnState hook.
type connCap struct {
	net.Listener
	max     int
	seq     atomic.Int64 // orders connections by when they last became idle
	evicted atomic.Int64
	refused atomic.Int64

	mu    sync.Mutex
	conns map[*cappedConn]struct{}
}

func capConns(ln net.Listener, max int) *connCap {
	return &connCap{Listener: ln, max: max, conns: make(map[*cappedConn]struct{})}
}

// cappedConn is a connection of a connCap.
type cappedConn struct {
	net.Conn
	l *connCap
	// busy is set while a request is being read or served (http.StateActive); idleSince is
	// the l.seq value of when it last stopped being busy.
	busy      atomic.Bool
	idleSince atomic.Int64
	once      sync.Once
}

// Accept returns the next connection, making room for it if the cap is reached.
func (l *connCap) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		cc := &cappedConn{Conn: c, l: l}
		cc.idleSince.Store(l.seq.Add(1))
		var victim *cappedConn
		l.mu.Lock()
		if len(l.conns) >= l.max {
			for o := range l.conns {
				if !o.busy.Load() && (victim == nil || o.idleSince.Load() < victim.idleSince.Load()) {
					victim = o
				}
			}
			if victim == nil {
				l.mu.Unlock()
				l.refused.Add(1)
				c.Close()
				continue
			}
			delete(l.conns, victim)
		}
		l.conns[cc] = struct{}{}
		l.mu.Unlock()
		if victim != nil {
			l.evicted.Add(1)
			victim.Conn.Close() // its server goroutine's read fails, and it closes the conn
		}
		return cc, nil
	}
}

// ConnState tracks whether each connection has a request in progress; it is the
// http.Server's ConnState hook.
func (l *connCap) ConnState(c net.Conn, st http.ConnState) {
	cc, ok := c.(*cappedConn)
	if !ok {
		return
	}
	switch st {
	case http.StateActive:
		cc.busy.Store(true)
	case http.StateIdle:
		cc.idleSince.Store(l.seq.Add(1))
		cc.busy.Store(false)
	}
}

// open is how many connections are held.
func (l *connCap) open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}

// Close gives the connection's place back, once.
func (c *cappedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.conns, c)
		c.l.mu.Unlock()
	})
	return err
}
