package worker

import (
	"bytes"
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ember-serverless/ember/internal/limits"
	"github.com/ember-serverless/ember/internal/logs"
)

// maxLineSize bounds one log event; longer lines are split, as Lambda splits events at 256 KB.
const maxLineSize = 256 * 1024

// logCapture reads a sandbox's output pipe and turns it into log events. Reads happen under
// mu, both in the background loop and in drain, so that when a runtime has posted its response
// everything it wrote before that can be read and attributed to the invocation before its END
// line: a pipe holds the bytes a process wrote until someone reads them, so a drain that reads
// the pipe dry under the lock sees all of them.
type logCapture struct {
	r      *os.File
	raw    syscall.RawConn
	sink   logs.Writer
	group  string
	stream string

	mu      sync.Mutex
	buf     []byte
	partial []byte
	tail    *[]byte // the current invocation's log, when it asked for a tail
	eof     bool
	// out holds the events emitted under mu and not yet handed to sink; they are handed over
	// together, so the store keeps them next to each other. While holding is set (from an
	// invocation's START until its first line of output or its END) they are kept back.
	out     []logs.Event
	holding bool
	// closing, when set, makes the last invocation's closing lines (END, REPORT), written
	// after its caller has its answer (Defer) and before anything else of the sandbox's.
	closing func() []string
	// heldSince is when closing was set (Unix nanoseconds), 0 while there is none: written
	// under mu, read without it by the worker's sweep of closing lines held too long.
	heldSince atomic.Int64
	done      chan struct{}
	// tee, when set, also gets every line of the function's own output (not the platform's
	// lines), for the Telemetry API. It must copy what it keeps.
	tee func([]byte)
}

// setTee sets the function that also gets the function's output lines.
func (lc *logCapture) setTee(f func([]byte)) {
	lc.mu.Lock()
	lc.tee = f
	lc.mu.Unlock()
}

// outputLocked emits one line of the function's output.
func (lc *logCapture) outputLocked(line []byte) {
	if lc.tee != nil {
		lc.tee(line)
	}
	lc.holding = false
	lc.emitLocked(line)
}

func newLogCapture(r *os.File, sink logs.Writer, group, stream string) (*logCapture, error) {
	raw, err := r.SyscallConn()
	if err != nil {
		return nil, err
	}
	initLog := make([]byte, 0, 512)
	lc := &logCapture{r: r, raw: raw, sink: sink, group: group, stream: stream,
		buf: make([]byte, 32*1024), done: make(chan struct{}), tail: &initLog}
	go lc.loop()
	return lc, nil
}

func (lc *logCapture) loop() {
	defer close(lc.done)
	for {
		eof := false
		err := lc.raw.Read(func(fd uintptr) bool {
			lc.mu.Lock()
			defer lc.mu.Unlock()
			eof = lc.readLocked(int(fd))
			lc.sendLocked()
			return eof
		})
		if eof || err != nil {
			lc.mu.Lock()
			lc.eof = true
			lc.flushPartialLocked()
			lc.closeLocked()
			lc.sendLocked()
			lc.mu.Unlock()
			lc.r.Close()
			return
		}
	}
}

// readLocked reads the pipe until it would block, emitting whole lines; it reports whether
// the pipe reached end of file (every writer gone).
func (lc *logCapture) readLocked(fd int) bool {
	if lc.eof {
		return true
	}
	for {
		n, err := syscall.Read(fd, lc.buf)
		if n > 0 {
			lc.consumeLocked(lc.buf[:n])
			continue
		}
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if errors.Is(err, syscall.EAGAIN) {
			return false
		}
		return true // n == 0: end of file; or a read error, treated alike
	}
}

func (lc *logCapture) consumeLocked(b []byte) {
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			lc.partial = append(lc.partial, b...)
			if len(lc.partial) >= maxLineSize {
				lc.outputLocked(lc.partial)
				lc.partial = lc.partial[:0]
			}
			return
		}
		if len(lc.partial) > 0 {
			lc.partial = append(lc.partial, b[:i]...)
			lc.outputLocked(lc.partial)
			lc.partial = lc.partial[:0]
		} else {
			lc.outputLocked(b[:i])
		}
		b = b[i+1:]
	}
}

func (lc *logCapture) flushPartialLocked() {
	if len(lc.partial) > 0 {
		lc.outputLocked(lc.partial)
		lc.partial = lc.partial[:0]
	}
}

// emitLocked sends one line to the log and, when an invocation asked for a tail, to its tail.
func (lc *logCapture) emitLocked(line []byte) {
	if lc.tail != nil {
		t := append(*lc.tail, line...)
		t = append(t, '\n')
		if len(t) > 2*limits.TailSize {
			t = append(t[:0], t[len(t)-limits.TailSize:]...)
		}
		*lc.tail = t
	}
	if lc.sink != nil {
		lc.out = append(lc.out, logs.Event{Group: lc.group, Stream: lc.stream, Time: time.Now(), Message: string(line)})
	}
}

// sendLocked hands the events emitted so far to the sink, unless they are being held.
func (lc *logCapture) sendLocked() {
	if lc.holding || len(lc.out) == 0 {
		return
	}
	lc.sink.Write(lc.out...)
	clear(lc.out)
	lc.out = lc.out[:0]
}

// drainLocked reads everything written to the pipe so far that the background loop has not.
func (lc *logCapture) drainLocked() {
	if !lc.eof {
		_ = lc.raw.Control(func(fd uintptr) { lc.readLocked(int(fd)) })
	}
}

// Line writes a line of the platform's own (START, END, REPORT, errors) into the log, in order
// with the runtime's output.
func (lc *logCapture) Line(s string) {
	lc.mu.Lock()
	lc.closeLocked()
	lc.holding = false
	lc.emitLocked([]byte(s))
	lc.sendLocked()
	lc.mu.Unlock()
}

// Begin writes the invocation's first line and starts collecting its tail when tail is set.
// Until the first Begin, the init phase's output is collected, so that keepInit can put it in
// the tail of an invocation whose init failed.
//
// Whatever was written before — the runtime's or an extension's last lines of the previous
// invocation, which it wrote before it asked for the next — is read first, so that it stays
// before START.
//
// START is handed to the log store with the invocation's first line of output, or with its
// END: with many sandboxes busy, a START stored on its own would be a message of its own.
func (lc *logCapture) Begin(first string, tail, keepInit bool) {
	lc.mu.Lock()
	if !lc.closeLocked() {
		lc.drainLocked()
	}
	lc.sendLocked()
	if keepInit && tail && lc.tail != nil {
		// keep what init wrote
	} else if tail {
		t := make([]byte, 0, 512)
		lc.tail = &t
	} else {
		lc.tail = nil
	}
	lc.emitLocked([]byte(first))
	lc.holding = true
	lc.mu.Unlock()
}

// End reads whatever the runtime has written and not yet been read, ends any unfinished line,
// writes the closing lines and returns the invocation's tail.
func (lc *logCapture) End(lines ...string) []byte {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	if !lc.closeLocked() {
		lc.drainLocked()
	}
	lc.closingLinesLocked(lines)
	lc.sendLocked()
	var out []byte
	if lc.tail != nil {
		out = *lc.tail
		if len(out) > limits.TailSize {
			out = out[len(out)-limits.TailSize:]
		}
		lc.tail = nil
	}
	return out
}

// Defer ends an invocation whose caller wants no tail with the lines closing returns, written
// by Finish or, at the latest, before the sandbox's next line of any kind, or by the worker's
// sweep once they have been held for maxHeld (a caller that forgot Finish). now is when the
// invocation ended.
func (lc *logCapture) Defer(closing func() []string, now time.Time) {
	lc.mu.Lock()
	lc.closeLocked()
	lc.closing = closing
	lc.heldSince.Store(now.UnixNano())
	lc.mu.Unlock()
}

// finishHeldSince writes the closing lines Defer left if they have been held since cutoff
// (Unix nanoseconds) or before. It costs an atomic load when there are none.
func (lc *logCapture) finishHeldSince(cutoff int64) {
	if at := lc.heldSince.Load(); at == 0 || at > cutoff {
		return
	}
	lc.mu.Lock()
	if at := lc.heldSince.Load(); at != 0 && at <= cutoff {
		lc.closeLocked()
		lc.sendLocked()
	}
	lc.mu.Unlock()
}

// Finish writes the closing lines Defer left, if they are not written yet.
func (lc *logCapture) Finish() {
	lc.mu.Lock()
	lc.closeLocked()
	lc.sendLocked()
	lc.mu.Unlock()
}

// closeLocked writes the deferred closing lines after whatever the runtime has written; it
// reports whether there were any (and so whether it read the pipe dry).
func (lc *logCapture) closeLocked() bool {
	if lc.closing == nil {
		return false
	}
	lines := lc.closing()
	lc.closing = nil
	lc.heldSince.Store(0)
	lc.drainLocked()
	lc.closingLinesLocked(lines)
	return true
}

// closingLinesLocked ends any unfinished line of the runtime's and writes an invocation's
// closing lines after it, releasing its START if still held; the pipe has been read dry.
func (lc *logCapture) closingLinesLocked(lines []string) {
	lc.flushPartialLocked()
	for _, l := range lines {
		lc.emitLocked([]byte(l))
	}
	lc.holding = false
}

// waitEOF waits up to d for every writer of the pipe to be gone, so that a runtime's last
// words before it died are in the log.
func (lc *logCapture) waitEOF(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-lc.done:
	case <-t.C:
	}
}
