package worker

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ember-serverless/ember/internal/invoke"
	"github.com/ember-serverless/ember/internal/sandbox"
)

// Sandbox is one sandbox as its worker sees it: the backend's sandbox, the Runtime API served
// for it, and the invocation it is running.
type Sandbox struct {
	id     string
	cfg    invoke.SandboxSpec
	w      *Worker
	sb     sandbox.Sandbox
	log    *logCapture
	logger *slog.Logger
	api    *http.Server
	conns  *connLimit // the Runtime API's listener
	body   bodyBudget // the Runtime API's request body bytes in flight

	next    chan *call
	initErr chan initError

	mu    sync.Mutex
	calls map[string]*call

	started      time.Time
	initDone     atomic.Bool
	initDuration time.Duration // written by the first /next, read after it hands a call over
	// restoreDuration is how long the backend took to restore the sandbox from a snapshot
	// (SnapStart), zero for one that booted and initialized afresh.
	restoreDuration time.Duration
	snapTried       atomic.Bool // the first /next has asked the backend for a snapshot
	invoked         atomic.Bool // set by the first Invoke: that one is the cold start

	// peakMem caches the sandbox's peak memory for REPORT lines, read from the backend at most
	// every peakMemEvery on the warm path (a cgroup read costs more than the rest of a REPORT).
	peakMem     int64
	peakMemRead time.Time
	gone        atomic.Bool
	destroyOnce sync.Once

	// ext is the Extensions and Telemetry API state; nil while no extension is in the
	// sandbox, so that an invocation without extensions costs nothing more.
	ext atomic.Pointer[extensions]

	// phases is told when invocations begin and end, for backends whose CPU limit depends
	// on it; nil for others.
	phases sandbox.InvokePhases
	idle   idleState
}

// idleState is what freezing an idle sandbox needs: a sandbox is frozen once it has been
// idle for the worker's FreezeAfter, and thawed when the next invocation comes.
type idleState struct {
	mu     sync.Mutex
	busy   bool
	frozen bool
	timer  *time.Timer
}

// call is an invocation in flight in a sandbox.
type call struct {
	inv      *invoke.Invocation
	picked   chan struct{} // closed when the runtime has received the invocation
	done     chan struct{} // closed when the runtime has answered
	pickedAt time.Time
	deadline time.Time
	once     sync.Once
	payload  []byte
	errType  invoke.ErrorType
	failed   bool
}

// isPicked says whether the runtime has taken c (its pickedAt and deadline are set).
func (c *call) isPicked() bool {
	select {
	case <-c.picked:
		return true
	default:
		return false
	}
}

func (c *call) complete(payload []byte, failed bool, errType invoke.ErrorType) bool {
	ok := false
	c.once.Do(func() {
		c.payload, c.failed, c.errType = payload, failed, errType
		close(c.done)
		ok = true
	})
	return ok
}

type initError struct {
	errType invoke.ErrorType
	body    []byte
}

// ID is the sandbox's ID, also the end of its log stream's name.
func (s *Sandbox) ID() string { return s.id }

// Config is the function version the sandbox runs.
func (s *Sandbox) Config() invoke.SandboxSpec { return s.cfg }

// Initialized reports whether the runtime has finished its init and asked for an invocation.
func (s *Sandbox) Initialized() bool { return s.initDone.Load() }

// Usable reports whether the sandbox can take another invocation.
func (s *Sandbox) Usable() bool {
	if s.gone.Load() {
		return false
	}
	select {
	case <-s.sb.Done():
		return false
	default:
		return true
	}
}

// Frozen reports whether the sandbox is frozen now (idle for longer than the worker's
// FreezeAfter).
func (s *Sandbox) Frozen() bool {
	s.idle.mu.Lock()
	defer s.idle.mu.Unlock()
	return s.idle.frozen
}

// wake readies the sandbox for an invocation: thawed, and its CPU burst begun.
func (s *Sandbox) wake() error {
	s.idle.mu.Lock()
	s.idle.busy = true
	if s.idle.timer != nil {
		s.idle.timer.Stop()
	}
	if s.idle.frozen {
		if err := s.sb.Thaw(); err != nil {
			s.idle.mu.Unlock()
			return err
		}
		s.idle.frozen = false
	}
	s.idle.mu.Unlock()
	if s.phases != nil {
		s.phases.BeginInvoke()
	}
	return nil
}

// rest ends an invocation's CPU burst and lets the sandbox be frozen if it stays idle.
func (s *Sandbox) rest() {
	if s.phases != nil {
		if err := s.phases.EndInvoke(); err != nil {
			s.logger.Warn("CPU limit", "err", err)
		}
	}
	s.idle.mu.Lock()
	s.idle.busy = false
	if after := s.w.cfg.FreezeAfter; after > 0 && !s.gone.Load() {
		if s.idle.timer == nil {
			s.idle.timer = time.AfterFunc(after, s.freezeIdle)
		} else {
			s.idle.timer.Reset(after)
		}
	}
	s.idle.mu.Unlock()
}

// freezeIdle freezes the sandbox unless an invocation came meanwhile. As on Lambda, a
// sandbox whose extensions are still busy with the last invocation is not frozen yet, nor one
// whose telemetry is still to be delivered to them.
func (s *Sandbox) freezeIdle() {
	s.idle.mu.Lock()
	defer s.idle.mu.Unlock()
	if s.idle.busy || s.idle.frozen || !s.Usable() {
		return
	}
	if x := s.ext.Load(); x != nil && (!x.ready() || x.tel.pending()) {
		s.idle.timer.Reset(s.w.cfg.FreezeAfter)
		return
	}
	if err := s.sb.Freeze(); err != nil {
		s.logger.Warn("freeze idle sandbox", "err", err)
		return
	}
	s.idle.frozen = true
}

// Prewarm waits until the sandbox's runtime has initialised and asks for its first event, so
// that its first invocation is warm: no Init Duration in its REPORT, as for Lambda's
// provisioned concurrency. A sandbox whose init fails, or does not end within the worker's
// init timeout or ctx, is destroyed, and the error says why.
func (s *Sandbox) Prewarm(ctx context.Context) error {
	t := time.NewTimer(s.w.cfg.InitTimeout)
	defer t.Stop()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !s.initDone.Load() {
		select {
		case ie := <-s.initErr:
			s.destroy()
			return fmt.Errorf("init failed: %s: %s", ie.errType, ie.body)
		case <-s.sb.Done():
			s.log.waitEOF(100 * time.Millisecond)
			_, msg := s.exitError("")
			s.destroy()
			return fmt.Errorf("the runtime exited during init: %s", msg)
		case <-t.C:
			s.destroy()
			return fmt.Errorf("init timed out after %s", s.w.cfg.InitTimeout)
		case <-ctx.Done():
			s.destroy()
			return ctx.Err()
		case <-tick.C:
		}
	}
	s.invoked.Store(true)
	s.rest()
	return nil
}

// Invoke hands inv to the runtime and waits for its answer, its exit or its timeout. Only one
// invocation runs in a sandbox at a time: the caller must hold the sandbox exclusively. It
// returns ErrSandboxGone, having run nothing, when a warm sandbox turns out to be dead, so the
// caller can retry on another. A frozen sandbox is thawed first, and frozen again once it
// has been idle for the worker's FreezeAfter.
func (s *Sandbox) Invoke(ctx context.Context, inv *invoke.Invocation) (*invoke.Result, error) {
	if err := s.wake(); err != nil {
		s.logger.Warn("thaw sandbox", "err", err)
		s.destroy()
		return nil, ErrSandboxGone
	}
	res, err := s.run(ctx, inv)
	s.rest()
	return res, err
}

func (s *Sandbox) run(ctx context.Context, inv *invoke.Invocation) (*invoke.Result, error) {
	if !s.Usable() {
		s.destroy()
		return nil, ErrSandboxGone
	}
	c := &call{inv: inv, picked: make(chan struct{}), done: make(chan struct{})}
	select {
	case s.next <- c:
	default:
		return nil, fmt.Errorf("sandbox %s: already has an invocation waiting", s.id)
	}
	cold := !s.invoked.Swap(true)
	if cold {
		if res, err, over := s.awaitInit(ctx, c); over {
			return res, err
		}
		// The runtime has taken c: nothing gives it back now.
		return s.await(context.Background(), c, cold)
	}
	// Warm, the runtime is almost always waiting in /next already: wait for its answer at
	// once, not first for it to take the event (one wake-up less per invoke).
	return s.await(ctx, c, cold)
}

// takeBack removes c from the queue if the runtime has not taken it yet.
func (s *Sandbox) takeBack(c *call) bool {
	select {
	case got := <-s.next:
		if got == c {
			return true
		}
		s.next <- got
	default:
	}
	return false
}

// awaitInit waits for a new runtime to ask for its first invocation. over is true when the
// invocation ended there: the runtime failed to initialise, or ctx ended.
func (s *Sandbox) awaitInit(ctx context.Context, c *call) (res *invoke.Result, err error, over bool) {
	t := time.NewTimer(s.w.cfg.InitTimeout)
	defer t.Stop()
	select {
	case <-c.picked:
		return nil, nil, false
	case ie := <-s.initErr:
		return s.initFailed(c, "error", ie.body, ie.errType), nil, true
	case <-s.sb.Done():
		s.log.waitEOF(100 * time.Millisecond)
		select {
		case ie := <-s.initErr:
			// The runtime reported why before it exited: that is the error.
			return s.initFailed(c, "error", ie.body, ie.errType), nil, true
		default:
		}
		errType, msg := s.exitError(c.inv.RequestID)
		return s.initFailed(c, "error", invoke.ErrorDocument(errType, msg), errType), nil, true
	case <-t.C:
		msg := fmt.Sprintf("RequestId: %s Error: Task timed out after %.2f seconds", c.inv.RequestID, s.w.cfg.InitTimeout.Seconds())
		return s.initFailed(c, "timeout", invoke.ErrorDocument(invoke.SandboxTimedout, msg), invoke.SandboxTimedout), nil, true
	case <-ctx.Done():
		s.takeBack(c)
		s.destroy()
		return nil, ctx.Err(), true
	}
}

// initFailed ends a sandbox whose init failed (status "error" or "timeout") and makes the
// invocation's result of it.
func (s *Sandbox) initFailed(c *call, status string, body []byte, errType invoke.ErrorType) *invoke.Result {
	line := "INIT_REPORT Init Duration: " + ms(time.Since(s.started)) + "\tPhase: init\tStatus: " + status
	if status == "error" {
		line += "\tError Type: " + string(errType)
	}
	s.log.Line(line)
	if x := s.ext.Load(); x != nil {
		s.telInitDone(x, status, time.Since(s.started))
	}
	s.destroy()
	return s.failedInit(c, body, errType)
}

func (s *Sandbox) failedInit(c *call, body []byte, errType invoke.ErrorType) *invoke.Result {
	s.log.Begin(s.startLine(c.inv.RequestID), c.inv.Tail, true)
	d := time.Since(s.started)
	tail := s.log.End("END RequestId: "+c.inv.RequestID, s.reportLine(c.inv.RequestID, 0, d, true))
	return &invoke.Result{Payload: body, FunctionError: invoke.FunctionErrorUnhandled, ErrorType: errType, Log: tail, InitDuration: d}
}

// await waits for the runtime's answer to c. The runtime may not have taken c yet: until it
// does, ctx ending or the sandbox dying takes c back (ctx's error, or ErrSandboxGone so that
// the invoke is retried on another sandbox, then; either way without having run).
func (s *Sandbox) await(ctx context.Context, c *call, cold bool) (*invoke.Result, error) {
	// Timeout from now ends at or before c.deadline (Timeout from when the runtime took c):
	// when it fires, the rest is waited for.
	t := time.NewTimer(s.cfg.Timeout)
	defer t.Stop()
	giveUp := ctx.Done()
	res := &invoke.Result{Reusable: true}
	if cold && s.restoreDuration == 0 {
		res.InitDuration = s.initDuration
	}
	var extra []string
	status, reason := "success", shutdownFailure
	for waiting := true; waiting; {
		select {
		case <-c.done:
			waiting = false
			res.Payload = c.payload
			if c.failed {
				res.FunctionError = invoke.FunctionErrorUnhandled
				res.ErrorType = c.errType
			}
		case <-s.sb.Done():
			if !c.isPicked() && s.takeBack(c) {
				s.destroy()
				return nil, ErrSandboxGone
			}
			<-c.picked
			waiting = false
			s.log.waitEOF(100 * time.Millisecond)
			errType, msg := s.exitError(c.inv.RequestID)
			if !c.complete(invoke.ErrorDocument(errType, msg), true, errType) {
				// The runtime answered and then exited: the answer stands, the sandbox goes.
				<-c.done
			}
			res.Payload, res.FunctionError, res.ErrorType = c.payload, invoke.FunctionErrorUnhandled, c.errType
			if !c.failed {
				res.FunctionError, res.ErrorType = "", ""
			} else if c.errType == errType {
				extra = append(extra, msg, string(errType))
			}
			res.Reusable = false
			status = "error"
		case <-giveUp:
			if s.takeBack(c) {
				return nil, ctx.Err()
			}
			giveUp = nil // the runtime has c: its answer, or the timeout, is the result
		case <-t.C:
			if !c.isPicked() {
				t.Reset(s.cfg.Timeout)
				continue
			}
			if left := time.Until(c.deadline); left > 0 {
				t.Reset(left)
				continue
			}
			waiting = false
			secs := float64(s.cfg.Timeout) / float64(time.Second)
			msg := fmt.Sprintf("RequestId: %s Error: Task timed out after %.2f seconds", c.inv.RequestID, secs)
			if c.complete(invoke.ErrorDocument(invoke.SandboxTimedout, msg), true, invoke.SandboxTimedout) {
				extra = append(extra, fmt.Sprintf("%s %s Task timed out after %.2f seconds",
					time.Now().UTC().Format("2006-01-02T15:04:05.000Z"), c.inv.RequestID, secs))
				res.Reusable = false
				status, reason = "timeout", shutdownTimeout
			}
			res.Payload, res.FunctionError, res.ErrorType = c.payload, invoke.FunctionErrorUnhandled, c.errType
			if !c.failed {
				res.FunctionError, res.ErrorType = "", ""
			}
		}
	}
	ended := time.Now()
	res.Duration = ended.Sub(c.pickedAt)
	s.mu.Lock()
	delete(s.calls, c.inv.RequestID)
	s.mu.Unlock()
	if status == "success" && res.FunctionError != "" {
		status = "failure"
	}
	x := s.ext.Load()
	if !res.Reusable && x == nil {
		s.destroy()
	}
	d, initD := res.Duration, res.InitDuration
	closing := func() []string {
		return []string{"END RequestId: " + c.inv.RequestID, s.reportLine(c.inv.RequestID, d, initD, cold)}
	}
	if !c.inv.Tail && x == nil && len(extra) == 0 && res.Reusable {
		// Nobody waits for END and REPORT: the caller gets its answer first, and they are
		// written after it (see Result.Finish).
		s.log.Defer(closing, ended)
		res.Finish = s.log.Finish
		return res, nil
	}
	res.Log = s.log.End(append(extra, closing()...)...)
	if x != nil {
		s.telDone(x, c, status, res, cold)
		if !res.Reusable {
			// The extensions' SHUTDOWN must not hold up the answer.
			go s.destroyFor(context.Background(), reason)
		}
	}
	return res, nil
}

// exitError names why the runtime is gone, as Lambda words it.
func (s *Sandbox) exitError(requestID string) (errType invoke.ErrorType, msg string) {
	st := s.sb.Exit()
	how := "exit status " + strconv.Itoa(st.Code)
	if st.Signal != "" {
		how = "signal: " + st.Signal
	}
	if st.OOM {
		return invoke.RuntimeOutOfMemory, fmt.Sprintf("RequestId: %s Error: Runtime exited with error: %s", requestID, how)
	}
	if st.Code == 0 && st.Signal == "" {
		return invoke.RuntimeExitError, fmt.Sprintf("RequestId: %s Error: Runtime exited without providing a reason", requestID)
	}
	return invoke.RuntimeExitError, fmt.Sprintf("RequestId: %s Error: Runtime exited with error: %s", requestID, how)
}

func (s *Sandbox) startLine(requestID string) string {
	return "START RequestId: " + requestID + " Version: " + s.cfg.Version
}

func (s *Sandbox) reportLine(requestID string, d, initD time.Duration, cold bool) string {
	billed := d
	if cold {
		billed += initD // custom runtimes are billed for their init
	}
	maxMem := int64(math.Ceil(float64(s.peakMemory(cold)) / (1 << 20)))
	line := fmt.Sprintf("REPORT RequestId: %s\tDuration: %s\tBilled Duration: %d ms\tMemory Size: %d MB\tMax Memory Used: %d MB\t",
		requestID, ms(d), int64(math.Ceil(float64(billed)/float64(time.Millisecond))), s.cfg.MemoryMB, maxMem)
	switch {
	case cold && s.restoreDuration > 0:
		// A SnapStart sandbox: restored, not initialized, as Lambda reports it.
		line += "Restore Duration: " + ms(s.restoreDuration) + "\t"
	case cold:
		line += "Init Duration: " + ms(initD) + "\t"
	}
	return line + s.w.cfg.ReportSuffix
}

// peakMemEvery is how stale a warm invoke's Max Memory Used may be.
const peakMemEvery = 100 * time.Millisecond

// peakMemory is the sandbox's peak memory so far: read afresh on a cold start and when the
// cached figure is older than peakMemEvery. Only the invocation holding the sandbox calls it.
func (s *Sandbox) peakMemory(fresh bool) int64 {
	now := time.Now()
	if fresh || now.Sub(s.peakMemRead) >= peakMemEvery {
		s.peakMem = s.sb.Stats().MaxMemoryBytes
		s.peakMemRead = now
	}
	return s.peakMem
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 2, 64) + " ms"
}

// Destroy ends the sandbox and everything in it. Extensions subscribed to SHUTDOWN get it
// first, and until Lambda's limit to finish.
func (s *Sandbox) Destroy(ctx context.Context) { s.destroyFor(ctx, shutdownSpindown) }

// destroyFor ends the sandbox, telling its extensions why.
func (s *Sandbox) destroyFor(ctx context.Context, reason string) {
	s.destroyOnce.Do(func() {
		s.gone.Store(true)
		s.idle.mu.Lock()
		if s.idle.timer != nil {
			s.idle.timer.Stop()
		}
		s.idle.mu.Unlock()
		if x := s.ext.Load(); x != nil {
			x.tel.close()
			select {
			case <-s.sb.Done():
			default:
				if s.started.IsZero() {
					break
				}
				_ = s.sb.Thaw()
				x.shutdown(ctx, reason)
			}
		}
		s.log.Finish()
		if err := s.sb.Destroy(ctx); err != nil {
			s.logger.Warn("destroy sandbox", "err", err)
		}
		s.api.Close()
		s.w.live.Delete(s.id)
		s.w.count.Add(-1)
		s.w.memory.Add(-int64(s.cfg.MemoryMB))
	})
}

func (s *Sandbox) destroy() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s.destroyFor(ctx, shutdownFailure)
}

// invokedARN is the ARN inv's caller invoked, or the sandbox's function ARN when the caller
// did not say.
func (s *Sandbox) invokedARN(inv *invoke.Invocation) string {
	if inv.InvokedFunctionARN != "" {
		return inv.InvokedFunctionARN
	}
	return s.cfg.FunctionARN
}
