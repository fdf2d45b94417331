//go:build linux

package microvm

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/yamux"

	"github.com/ember-serverless/ember/internal/sandbox"
	"github.com/ember-serverless/ember/internal/sandbox/microvm/wire"
)

// vmSandbox is one sandbox: a VM, the jail inside it, and the host's ends of its channels.
// The VM may be replaced by a restored copy of itself (a snapshot); the Runtime API listener
// and the sandbox's identity stay.
type vmSandbox struct {
	b       *Backend
	spec    sandbox.Spec
	dir     string
	memFile string // the booted VM's RAM, shared with the file; "" for a restored VM's
	ln      *streamListener
	// What the VM was made with, for a snapshot of it.
	memoryMB int
	fnImg    string
	scratch  string

	mu        sync.Mutex
	vm        *vm
	ctl       *ctlClient
	sess      *yamux.Session
	gen       int // counts the VMs that have been this sandbox
	destroyed bool
	frozen    bool
	stats     sandbox.Stats
	restored  time.Duration // how long the restore took; zero for a VM booted afresh

	done     chan struct{}
	doneOnce sync.Once
	exit     sandbox.ExitStatus
}

var _ sandbox.Sandbox = (*vmSandbox)(nil)

func newSandbox(b *Backend, spec sandbox.Spec, dir string) *vmSandbox {
	key := sha256.Sum256([]byte(b.cfg.StateDir))
	return &vmSandbox{
		b:       b,
		spec:    spec,
		dir:     dir,
		memFile: filepath.Join(b.cfg.MemDir, "ember-vm-"+hex.EncodeToString(key[:4])+"-"+spec.ID+".mem"),
		ln:      newStreamListener(),
		done:    make(chan struct{}),
	}
}

// boot starts the VM and attaches to it.
func (s *vmSandbox) boot(ctx context.Context, m machine) error {
	v, c, err := s.b.bootVM(ctx, m)
	if err != nil {
		return err
	}
	s.attach(v, c)
	return nil
}

// attach makes v the sandbox's VM: its data session feeds the listener and the output, and
// its end (or the runtime's, reported by the agent) ends the sandbox.
func (s *vmSandbox) attach(v *vm, c *ctlClient) {
	sess, _ := yamux.Server(v.data, muxConfig()) // fails only on a bad config
	s.mu.Lock()
	s.vm, s.ctl, s.sess = v, c, sess
	s.gen++
	gen := s.gen
	s.mu.Unlock()
	go s.acceptStreams(sess)
	go s.watch(v, c, gen)
}

func muxConfig() *yamux.Config {
	cfg := yamux.DefaultConfig()
	// A frozen VM answers no pings: the session ends only when a side closes it.
	cfg.EnableKeepAlive = false
	cfg.LogOutput = io.Discard
	return cfg
}

// watch ends the sandbox when the runtime exits or the VM does, unless the VM was replaced.
func (s *vmSandbox) watch(v *vm, c *ctlClient, gen int) {
	select {
	case m := <-c.exit:
		if m.Exit != nil {
			s.finish(*m.Exit)
		}
	case <-v.exited:
		s.mu.Lock()
		current := s.gen == gen
		s.mu.Unlock()
		if current {
			s.finish(sandbox.ExitStatus{Code: -1, Signal: "killed"})
		}
	}
}

func (s *vmSandbox) finish(st sandbox.ExitStatus) {
	s.doneOnce.Do(func() {
		s.exit = st
		close(s.done)
	})
}

// acceptStreams hands Runtime API connections to the listener and copies output streams to
// Spec.Output.
func (s *vmSandbox) acceptStreams(sess *yamux.Session) {
	for {
		st, err := sess.AcceptStream()
		if err != nil {
			return
		}
		go func() {
			kind := make([]byte, 1)
			if _, err := io.ReadFull(st, kind); err != nil {
				st.Close()
				return
			}
			switch kind[0] {
			case wire.StreamRuntimeAPI:
				s.ln.deliver(st)
			case wire.StreamOutput:
				io.Copy(s.spec.Output, st)
				st.Close()
			default:
				st.Close()
			}
		}()
	}
}

func (s *vmSandbox) call(ctx context.Context, req wire.Request) (wire.Message, error) {
	s.mu.Lock()
	c := s.ctl
	s.mu.Unlock()
	if c == nil {
		return wire.Message{}, errAgentGone
	}
	return c.call(ctx, req)
}

// ID is the Spec's ID.
func (s *vmSandbox) ID() string { return s.spec.ID }

// RuntimeAPI is where the runtime's connections to its Runtime API arrive.
func (s *vmSandbox) RuntimeAPI() net.Listener { return s.ln }

// Start starts the runtime in the guest's jail.
func (s *vmSandbox) Start(ctx context.Context) error {
	s.mu.Lock()
	destroyed, restored := s.destroyed, s.restored != 0
	s.mu.Unlock()
	if destroyed {
		return sandbox.ErrDestroyed
	}
	if restored {
		return nil // the snapshot's runtime is started and initialized
	}
	_, err := s.call(ctx, wire.Request{Op: wire.OpStart})
	return err
}

// Done is closed when the runtime has exited, or its VM has.
func (s *vmSandbox) Done() <-chan struct{} { return s.done }

// Exit tells how the runtime ended.
func (s *vmSandbox) Exit() sandbox.ExitStatus {
	<-s.done
	return s.exit
}

// Freeze pauses the whole VM: its vCPUs stop and nothing in it runs.
func (s *vmSandbox) Freeze() error { return s.pause(true) }

// Thaw resumes the VM.
func (s *vmSandbox) Thaw() error { return s.pause(false) }

func (s *vmSandbox) pause(stop bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.destroyed {
		return sandbox.ErrDestroyed
	}
	if s.frozen == stop {
		return nil
	}
	if stop {
		// Stats cannot ask a paused agent: remember the last.
		s.mu.Unlock()
		s.Stats()
		s.mu.Lock()
	}
	cmd := "cont"
	if stop {
		cmd = "stop"
	}
	if _, err := s.vm.qmp.do(cmd, nil); err != nil {
		return err
	}
	s.frozen = stop
	return nil
}

// Stats asks the agent for the jail's figures; a frozen or ended VM's are the last known.
func (s *vmSandbox) Stats() sandbox.Stats {
	s.mu.Lock()
	if s.frozen || s.destroyed {
		defer s.mu.Unlock()
		return s.stats
	}
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := s.call(ctx, wire.Request{Op: wire.OpStats})
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil && m.Stats != nil {
		s.stats = *m.Stats
	}
	return s.stats
}

// Destroy ends the runtime (the guest's jail gives it SIGTERM and a grace period), powers the
// VM off, or kills it when it does not go, and removes the VM's files.
func (s *vmSandbox) Destroy(ctx context.Context) error {
	s.mu.Lock()
	if s.destroyed {
		s.mu.Unlock()
		return nil
	}
	s.destroyed = true
	v, frozen := s.vm, s.frozen
	s.mu.Unlock()
	if v != nil {
		if frozen {
			v.qmp.do("cont", nil)
		}
		select {
		case <-s.done:
		default:
			sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			s.call(sctx, wire.Request{Op: wire.OpShutdown})
			cancel()
		}
		select {
		case <-v.exited:
		case <-time.After(2 * time.Second):
		}
	}
	s.finish(sandbox.ExitStatus{Code: -1, Signal: "killed"})
	s.cleanup()
	s.b.ids.Release(s.spec.ID)
	return nil
}

// cleanup kills the VM if it still runs and removes everything the sandbox made on the host.
func (s *vmSandbox) cleanup() {
	s.mu.Lock()
	v, sess := s.vm, s.sess
	s.mu.Unlock()
	s.ln.Close()
	if sess != nil {
		sess.Close()
	}
	if v != nil {
		v.kill()
	}
	os.RemoveAll(s.dir)
	if s.memFile != "" {
		os.Remove(s.memFile)
	}
}

// streamListener is a net.Listener of the Runtime API connections relayed from the guest.
type streamListener struct {
	ch        chan net.Conn
	closed    chan struct{}
	closeOnce sync.Once
}

func newStreamListener() *streamListener {
	return &streamListener{ch: make(chan net.Conn), closed: make(chan struct{})}
}

func (l *streamListener) deliver(c net.Conn) {
	select {
	case l.ch <- c:
	case <-l.closed:
		c.Close()
	}
}

func (l *streamListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *streamListener) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	return nil
}

func (l *streamListener) Addr() net.Addr { return vmAddr{} }

// vmAddr is the listener's address: the guest's view of it, 127.0.0.1:9001 in the jail.
type vmAddr struct{}

func (vmAddr) Network() string { return "virtio-serial" }
func (vmAddr) String() string  { return "127.0.0.1:9001" }
