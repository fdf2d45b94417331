//go:build linux

package agent

import (
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/yamux"

	"github.com/ember-serverless/ember/internal/sandbox/microvm/wire"
)

// link is the data port's session with the host. It is closed before a snapshot (quiesce)
// and opened anew after it (resume), on the original VM and on every clone alike: no stream
// survives a snapshot, and the host end of a restored VM starts a fresh session. What the
// runtime had sent on a connection and the host had not begun to answer (a pending
// /runtime/invocation/next) is sent again on the connection's new stream.
type link struct {
	path string

	mu      sync.Mutex
	changed *sync.Cond
	port    *os.File
	sess    *yamux.Session // nil while quiesced
	epoch   int            // counts sessions
}

func newLink(path string) *link {
	l := &link{path: path}
	l.changed = sync.NewCond(&l.mu)
	return l
}

func muxConfig() *yamux.Config {
	c := yamux.DefaultConfig()
	// A frozen or paused VM answers no pings; the session ends only when a side closes it.
	c.EnableKeepAlive = false
	c.LogOutput = io.Discard
	return c
}

// open starts a session on the data port.
func (l *link) open() error {
	port, err := os.OpenFile(l.path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	sess, err := yamux.Client(port, muxConfig())
	if err != nil {
		port.Close()
		return err
	}
	l.mu.Lock()
	l.port, l.sess = port, sess
	l.epoch++
	l.changed.Broadcast()
	l.mu.Unlock()
	return nil
}

// quiesce ends the session: every stream breaks, and the relays wait for the next one.
func (l *link) quiesce() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.sess != nil {
		l.sess.Close() // closes the port too
		l.sess, l.port = nil, nil
	}
}

func (l *link) resume() error {
	l.quiesce()
	return l.open()
}

// current waits for a session newer than epoch and opens a stream of kind on it.
func (l *link) stream(after int, kind byte) (net.Conn, int) {
	for {
		l.mu.Lock()
		for l.sess == nil || l.epoch <= after {
			l.changed.Wait()
		}
		sess, epoch := l.sess, l.epoch
		l.mu.Unlock()
		s, err := sess.Open()
		if err == nil {
			if _, err = s.Write([]byte{kind}); err == nil {
				return s, epoch
			}
			s.Close()
		}
		after = epoch // that session is gone: wait for the next
	}
}

// relayOutput copies the runtime's output to the host, across sessions.
func (l *link) relayOutput(r *os.File) {
	defer r.Close()
	s, epoch := l.stream(0, wire.StreamOutput)
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		for n > 0 {
			if _, werr := s.Write(buf[:n]); werr == nil {
				break
			}
			s.Close()
			s, epoch = l.stream(epoch, wire.StreamOutput)
		}
		if err != nil {
			s.Close()
			return
		}
	}
}

// serve relays every connection the runtime makes to its Runtime API to a stream.
func (l *link) serve(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go l.relay(c)
	}
}

// relay carries one runtime connection over the session, and over the next one after a
// snapshot.
type relay struct {
	l *link
	c net.Conn

	mu      sync.Mutex // held while writing to s, and while s is replaced
	s       net.Conn
	epoch   int
	pending []byte // sent to the host since it last answered
	// answered is set when the host has sent something since pending was last cleared:
	// pending is then void. (The host-to-runtime direction must not wait for mu.)
	answered atomic.Bool
}

func (l *link) relay(c net.Conn) {
	r := &relay{l: l, c: c}
	r.s, r.epoch = l.stream(0, wire.StreamRuntimeAPI)
	go r.fromHost()
	r.toHost()
}

// toHost copies what the runtime sends to the current stream, keeping it until the host
// answers.
func (r *relay) toHost() {
	buf := make([]byte, 32<<10)
	for {
		n, err := r.c.Read(buf)
		if n > 0 {
			r.mu.Lock()
			if r.answered.Swap(false) {
				r.pending = r.pending[:0]
			}
			r.pending = append(r.pending, buf[:n]...)
			// A failed write is a stream broken by a snapshot: fromHost sends pending
			// again on the next one.
			r.s.Write(buf[:n])
			r.mu.Unlock()
		}
		if err != nil {
			r.mu.Lock()
			if cw, ok := r.s.(interface{ CloseWrite() error }); ok {
				cw.CloseWrite() // the host may still answer
			}
			r.mu.Unlock()
			return
		}
	}
}

// fromHost copies the host's answers to the runtime, one stream after the other: when a
// snapshot broke the stream, it opens the connection's stream on the next session and sends
// the runtime's unanswered bytes again.
func (r *relay) fromHost() {
	defer r.c.Close()
	buf := make([]byte, 32<<10)
	r.mu.Lock()
	cur := r.s
	r.mu.Unlock()
	for {
		n, err := cur.Read(buf)
		if n > 0 {
			r.answered.Store(true)
			if _, werr := r.c.Write(buf[:n]); werr != nil {
				cur.Close()
				return
			}
		}
		if err == nil {
			continue
		}
		if !r.l.broken(cur) {
			cur.Close() // the host ended the connection
			return
		}
		r.mu.Lock()
		cur.Close()
		for {
			s, e := r.l.stream(r.epoch, wire.StreamRuntimeAPI)
			r.epoch = e
			if r.answered.Swap(false) {
				r.pending = r.pending[:0]
			}
			if _, err := s.Write(r.pending); err == nil {
				r.s, cur = s, s
				break
			}
			s.Close()
		}
		r.mu.Unlock()
	}
}

// broken says whether a stream ended because its session did (a snapshot), not because the
// host closed it.
func (l *link) broken(s net.Conn) bool {
	ys, ok := s.(*yamux.Stream)
	if !ok {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sess == nil || ys.Session() != l.sess
}
