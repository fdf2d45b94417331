package worker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ember-serverless/ember/internal/invoke"
)

// Extensions API headers.
const (
	hdrExtName       = "Lambda-Extension-Name"
	hdrExtID         = "Lambda-Extension-Identifier"
	hdrExtFeature    = "Lambda-Extension-Accept-Feature"
	hdrExtEventID    = "Lambda-Extension-Event-Identifier"
	hdrExtErrorType  = "Lambda-Extension-Function-Error-Type"
	extensionsPrefix = "/2020-01-01/extension"
)

// Error types of the Extensions API, as Lambda names them.
const (
	errExtInvalidName       = "Extension.InvalidExtensionName"
	errExtRegistrationOver  = "Extension.RegistrationClosed"
	errExtUnknownID         = "Extension.UnknownExtensionIdentifier"
	errExtMissingID         = "Extension.MissingExtensionIdentifier"
	errExtInvalidState      = "Extension.InvalidExtensionState"
	errExtInvalidEventType  = "Extension.InvalidEventType"
	errExtTooMany           = "Extension.TooManyExtensions"
	errExtInvalidRequest    = "InvalidRequestFormat"
	errExtUnknown           = "Extension.Unknown"
	maxExtensions           = 10
	shutdownLimit           = 2000 * time.Millisecond // Lambda's whole shutdown phase with external extensions
	shutdownRuntimeReserved = 300 * time.Millisecond  // of which the runtime's SIGTERM grace
)

// Shutdown reasons of a SHUTDOWN event.
const (
	shutdownSpindown = "spindown"
	shutdownTimeout  = "timeout"
	shutdownFailure  = "failure"
)

// findExtensions lists the external extensions of a function: the executable files of
// /opt/extensions once its layers are merged (a later layer's file replaces an earlier one's
// of the same name), as commands seen inside the sandbox, in the alphabetical order Lambda
// starts them in.
func findExtensions(layerDirs []string) [][]string {
	names := map[string]bool{}
	for _, dir := range layerDirs {
		entries, err := os.ReadDir(filepath.Join(dir, "extensions"))
		if err != nil {
			continue
		}
		for _, e := range entries {
			fi, err := os.Stat(filepath.Join(dir, "extensions", e.Name()))
			if err != nil {
				continue
			}
			names[e.Name()] = fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
		}
	}
	var cmds [][]string
	for n, exe := range names {
		if exe {
			cmds = append(cmds, []string{"/opt/extensions/" + n})
		}
	}
	sort.Slice(cmds, func(i, j int) bool { return cmds[i][0] < cmds[j][0] })
	return cmds
}

// extensions is the Extensions API state of one sandbox. A sandbox without extensions has
// none, so that its invocations cost nothing more.
type extensions struct {
	s        *Sandbox
	expected map[string]bool // names of the external extensions started; false until registered
	tel      *telemetry

	mu       sync.Mutex
	byID     map[string]*extension
	all      []*extension
	conns    map[string]*extension // remote address of an event/next connection → its extension
	changed  chan struct{}         // closed, and replaced, whenever an extension's state changes
	closed   bool                  // the init phase is over: no more registrations
	deadline time.Time             // the last INVOKE's deadline: when its extensions must be back
}

// extension is one registered extension.
type extension struct {
	id, name string
	invoke   bool // subscribed to INVOKE
	shutdown bool // subscribed to SHUTDOWN
	parked   bool // waiting in event/next with nothing to do
	gone     bool // its connection closed after SHUTDOWN
	events   chan []byte
}

func newExtensions(s *Sandbox, cmds [][]string) *extensions {
	x := &extensions{s: s, expected: map[string]bool{}, byID: map[string]*extension{},
		conns: map[string]*extension{}, changed: make(chan struct{})}
	for _, c := range cmds {
		x.expected[filepath.Base(c[0])] = false
	}
	x.tel = newTelemetry(s)
	return x
}

func (x *extensions) broadcastLocked() {
	close(x.changed)
	x.changed = make(chan struct{})
}

// readyLocked reports whether every extension started has registered and every registered
// one is waiting in event/next.
func (x *extensions) readyLocked() bool {
	for _, reg := range x.expected {
		if !reg {
			return false
		}
	}
	for _, e := range x.all {
		if !e.parked {
			return false
		}
	}
	return true
}

// ready reports whether every extension is waiting for its next event.
func (x *extensions) ready() bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.readyLocked()
}

// waitReady waits until the extensions are ready for the next event, ctx ends, or, when
// deadline is set, the deadline passes.
func (x *extensions) waitReady(ctx context.Context, deadline time.Time) bool {
	var timeout <-chan time.Time
	if !deadline.IsZero() {
		t := time.NewTimer(time.Until(deadline))
		defer t.Stop()
		timeout = t.C
	}
	for {
		x.mu.Lock()
		ok := x.readyLocked()
		ch := x.changed
		x.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return false
		case <-timeout:
			return false
		case <-x.s.sb.Done():
			return false
		}
	}
}

// endInit closes registration: the init phase is over.
func (x *extensions) endInit() {
	x.mu.Lock()
	x.closed = true
	x.mu.Unlock()
}

// invoke hands the INVOKE event of c to every extension subscribed to it.
func (x *extensions) invoke(c *call) {
	ev := struct {
		EventType          string         `json:"eventType"`
		DeadlineMs         int64          `json:"deadlineMs"`
		RequestID          string         `json:"requestId"`
		InvokedFunctionArn string         `json:"invokedFunctionArn"`
		Tracing            map[string]any `json:"tracing"`
	}{"INVOKE", c.deadline.UnixMilli(), c.inv.RequestID, x.s.invokedARN(c.inv), map[string]any{}}
	if c.inv.TraceID != "" {
		ev.Tracing = map[string]any{"type": "X-Amzn-Trace-Id", "value": c.inv.TraceID}
	}
	body, _ := json.Marshal(ev)
	x.mu.Lock()
	x.deadline = c.deadline
	for _, e := range x.all {
		if e.invoke {
			e.deliverLocked(body)
		}
	}
	x.broadcastLocked()
	x.mu.Unlock()
}

func (e *extension) deliverLocked(body []byte) {
	select {
	case e.events <- body:
		e.parked = false
	default: // it has an event it has not fetched yet
	}
}

// lastDeadline is when the extensions must be done with the last INVOKE.
func (x *extensions) lastDeadline() time.Time {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.deadline
}

// shutdown sends SHUTDOWN to every extension subscribed to it and waits, until Lambda's limit,
// for each to ask for its next event or to go away.
func (x *extensions) shutdown(ctx context.Context, reason string) {
	start := time.Now()
	body, _ := json.Marshal(struct {
		EventType      string `json:"eventType"`
		ShutdownReason string `json:"shutdownReason"`
		DeadlineMs     int64  `json:"deadlineMs"`
	}{"SHUTDOWN", reason, start.Add(shutdownLimit).UnixMilli()})
	x.mu.Lock()
	var waiting []*extension
	for _, e := range x.all {
		if e.shutdown {
			e.deliverLocked(body)
			waiting = append(waiting, e)
		}
	}
	x.broadcastLocked()
	x.mu.Unlock()
	if len(waiting) == 0 {
		return
	}
	t := time.NewTimer(shutdownLimit - shutdownRuntimeReserved)
	defer t.Stop()
	for {
		x.mu.Lock()
		done := true
		for _, e := range waiting {
			if !e.parked && !e.gone {
				done = false
			}
		}
		ch := x.changed
		x.mu.Unlock()
		if done {
			return
		}
		select {
		case <-ch:
		case <-t.C:
			return
		case <-ctx.Done():
			return
		case <-x.s.sb.Done():
			return
		}
	}
}

// connClosed notes that a connection to the API closed: an extension that held it after
// SHUTDOWN has exited.
func (x *extensions) connClosed(addr string) {
	x.mu.Lock()
	if e := x.conns[addr]; e != nil {
		delete(x.conns, addr)
		e.gone = true
		x.broadcastLocked()
	}
	x.mu.Unlock()
}

func (x *extensions) byHeader(w http.ResponseWriter, r *http.Request) *extension {
	id := r.Header.Get(hdrExtID)
	if id == "" {
		runtimeError(w, http.StatusForbidden, errExtMissingID, "Missing Lambda-Extension-Identifier header")
		return nil
	}
	x.mu.Lock()
	e := x.byID[id]
	x.mu.Unlock()
	if e == nil {
		runtimeError(w, http.StatusForbidden, errExtUnknownID, "Unknown extension "+id)
	}
	return e
}

// extensionsReady waits for the extensions to be done with their last event, as the
// runtime's /next must before it gets another invocation. Done with an INVOKE past its
// deadline, the extensions take the sandbox down with them.
func (s *Sandbox) extensionsReady(x *extensions, r *http.Request) bool {
	var deadline time.Time
	if s.initDone.Load() {
		deadline = x.lastDeadline()
	}
	if x.waitReady(r.Context(), deadline) {
		return true
	}
	if r.Context().Err() == nil && !deadline.IsZero() {
		s.logger.Warn("extensions did not finish the last invocation in time; resetting the sandbox")
		go s.destroyFor(context.Background(), shutdownTimeout)
	}
	return false
}

// extensionsOf is the sandbox's Extensions API state, made on first use by an extension that
// registers itself (an internal one, started by the runtime) in a sandbox started without any.
func (s *Sandbox) extensionsOf() *extensions {
	if x := s.ext.Load(); x != nil {
		return x
	}
	s.ext.CompareAndSwap(nil, newExtensions(s, nil))
	return s.ext.Load()
}

// handleRegister registers an extension for the events it names.
func (s *Sandbox) handleRegister(w http.ResponseWriter, r *http.Request) {
	name := r.Header.Get(hdrExtName)
	if name == "" {
		runtimeError(w, http.StatusForbidden, errExtInvalidName, "Empty extension name")
		return
	}
	var req struct {
		Events []string `json:"events"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&req); err != nil {
		runtimeError(w, http.StatusForbidden, errExtInvalidRequest, "invalid register request: "+err.Error())
		return
	}
	e := &extension{id: newUUID(), name: name, events: make(chan []byte, 1)}
	for _, ev := range req.Events {
		switch ev {
		case "INVOKE":
			e.invoke = true
		case "SHUTDOWN":
			e.shutdown = true
		default:
			runtimeError(w, http.StatusForbidden, errExtInvalidEventType, ev+": unknown event type")
			return
		}
	}
	x := s.ext.Load()
	if x == nil {
		if s.initDone.Load() {
			runtimeError(w, http.StatusForbidden, errExtRegistrationOver, "Extension registration closed already")
			return
		}
		x = s.extensionsOf()
	}
	x.mu.Lock()
	reg, external := x.expected[name]
	switch {
	case x.closed:
		x.mu.Unlock()
		runtimeError(w, http.StatusForbidden, errExtRegistrationOver, "Extension registration closed already")
		return
	case external && reg, !external && x.hasNameLocked(name):
		x.mu.Unlock()
		runtimeError(w, http.StatusForbidden, errExtInvalidState, "Extension with this name already registered")
		return
	case !external && len(req.Events) > 0:
		// An internal extension runs in the runtime's process, which gets the events itself.
		x.mu.Unlock()
		runtimeError(w, http.StatusForbidden, errExtInvalidEventType, "No events allowed for internal extensions")
		return
	case len(x.all) >= maxExtensions:
		x.mu.Unlock()
		runtimeError(w, http.StatusForbidden, errExtTooMany, fmt.Sprintf("Extension limit (%d) reached", maxExtensions))
		return
	}
	if external {
		x.expected[name] = true
	}
	x.conns[r.RemoteAddr] = e
	x.byID[e.id] = e
	x.all = append(x.all, e)
	x.broadcastLocked()
	x.mu.Unlock()

	resp := map[string]string{
		"functionName":    s.cfg.FunctionName,
		"functionVersion": s.cfg.Version,
		"handler":         s.cfg.Handler,
	}
	for _, f := range strings.Split(r.Header.Get(hdrExtFeature), ",") {
		if strings.TrimSpace(f) == "accountId" {
			if parts := strings.Split(s.cfg.FunctionARN, ":"); len(parts) > 4 {
				resp["accountId"] = parts[4]
			}
		}
	}
	b, _ := json.Marshal(resp)
	h := w.Header()
	h.Set(hdrExtID, e.id)
	h.Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	w.Write(b)
}

func (x *extensions) hasNameLocked(name string) bool {
	for _, e := range x.all {
		if e.name == name {
			return true
		}
	}
	return false
}

// handleEventNext long-polls for an extension's next event. Asking for it also says the
// extension is done with its last one.
func (s *Sandbox) handleEventNext(w http.ResponseWriter, r *http.Request) {
	x := s.ext.Load()
	if x == nil {
		runtimeError(w, http.StatusForbidden, errExtUnknownID, "Unknown extension "+r.Header.Get(hdrExtID))
		return
	}
	e := x.byHeader(w, r)
	if e == nil {
		return
	}
	x.mu.Lock()
	e.parked = true
	x.conns[r.RemoteAddr] = e
	x.broadcastLocked()
	x.mu.Unlock()
	select {
	case body := <-e.events:
		h := w.Header()
		h.Set(hdrExtEventID, newUUID())
		h.Set("Content-Type", "application/json")
		h.Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(http.StatusOK)
		w.Write(body)
	case <-r.Context().Done():
	}
}

// extensionError reads who reports an extension's error, and its type: ok is false, and the
// request answered, when it is no extension of this sandbox.
func (s *Sandbox) extensionError(w http.ResponseWriter, r *http.Request) (errType invoke.ErrorType, ok bool) {
	x := s.ext.Load()
	if x == nil {
		runtimeError(w, http.StatusForbidden, errExtUnknownID, "Unknown extension "+r.Header.Get(hdrExtID))
		return "", false
	}
	if x.byHeader(w, r) == nil {
		return "", false
	}
	if errType = invoke.ErrorType(r.Header.Get(hdrExtErrorType)); errType == "" {
		errType = errExtUnknown
	}
	return errType, true
}

// handleExtInitError takes the error an extension reports when it cannot initialise: the
// sandbox's init fails with it.
func (s *Sandbox) handleExtInitError(w http.ResponseWriter, r *http.Request) {
	errType, ok := s.extensionError(w, r)
	if !ok {
		return
	}
	doc, err := s.body.readAll(r.Body, maxErrorSize-1)
	if errors.Is(err, errBodyBudget) {
		bodyError(w, err)
		return
	}
	if !json.Valid(doc) || len(doc) == 0 {
		doc = invoke.ErrorDocument(errType, strings.TrimSpace(string(doc)))
	}
	select {
	case s.initErr <- initError{errType: errType, body: doc}:
	default:
	}
	accepted(w)
}

// handleExtExitError takes the error an extension reports before it exits: the sandbox is not
// used again.
func (s *Sandbox) handleExtExitError(w http.ResponseWriter, r *http.Request) {
	errType, ok := s.extensionError(w, r)
	if !ok {
		return
	}
	s.logger.Info("extension exited with an error", "type", errType)
	s.gone.Store(true)
	accepted(w)
}

func newUUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
