package worker

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/ember-serverless/ember/internal/invoke"
	"github.com/ember-serverless/ember/internal/limits"
	"github.com/ember-serverless/ember/internal/sandbox"
)

// Runtime API headers.
const (
	hdrRequestID     = "Lambda-Runtime-Aws-Request-Id"
	hdrDeadline      = "Lambda-Runtime-Deadline-Ms"
	hdrFunctionARN   = "Lambda-Runtime-Invoked-Function-Arn"
	hdrTraceID       = "Lambda-Runtime-Trace-Id"
	hdrClientContext = "Lambda-Runtime-Client-Context"
	hdrCognito       = "Lambda-Runtime-Cognito-Identity"
	hdrErrorType     = "Lambda-Runtime-Function-Error-Type"
	hdrErrorBody     = "Lambda-Runtime-Function-Error-Body"
)

// maxErrorSize bounds an error document a runtime posts.
const maxErrorSize = 1 << 20

// routes is the Runtime API one sandbox's runtime talks to.
func (s *Sandbox) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /2018-06-01/runtime/invocation/next", s.handleNext)
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/response", s.handleResponse)
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/error", s.handleError)
	mux.HandleFunc("POST /2018-06-01/runtime/init/error", s.handleInitError)
	// The Extensions and Telemetry APIs are served at the same address.
	mux.HandleFunc("POST "+extensionsPrefix+"/register", s.handleRegister)
	mux.HandleFunc("GET "+extensionsPrefix+"/event/next", s.handleEventNext)
	mux.HandleFunc("POST "+extensionsPrefix+"/init/error", s.handleExtInitError)
	mux.HandleFunc("POST "+extensionsPrefix+"/exit/error", s.handleExtExitError)
	mux.HandleFunc("PUT "+telemetryPath, s.handleTelemetrySubscribe)
	mux.HandleFunc("PUT "+telemetryPath+"/", s.handleTelemetrySubscribe)
	return mux
}

// handleNext long-polls for the sandbox's next invocation. With extensions, the next
// invocation (and the end of the init phase) waits until every extension has asked for its
// next event too.
func (s *Sandbox) handleNext(w http.ResponseWriter, r *http.Request) {
	x := s.ext.Load()
	if x != nil && !s.extensionsReady(x, r) {
		return
	}
	if !s.initDone.Load() {
		if s.snapshot(r.Context()) {
			return // the restored runtime asks again, on a new connection
		}
		if !s.snapTried.Load() {
			s.initDuration = time.Since(s.started)
		}
		s.initDone.Store(true)
		if b, ok := s.sb.(sandbox.InitBooster); ok {
			// The backend lent the new sandbox more CPU for its init; init is over.
			go b.EndInitBoost()
		}
		if x != nil {
			x.endInit()
			s.telInitDone(x, "success", s.initDuration)
		}
	}
	var c *call
	select {
	case c = <-s.next:
	case <-r.Context().Done():
		return
	}
	now := time.Now()
	c.pickedAt = now
	c.deadline = now.Add(s.cfg.Timeout)
	s.mu.Lock()
	s.calls[c.inv.RequestID] = c
	s.mu.Unlock()
	s.log.Begin(s.startLine(c.inv.RequestID), c.inv.Tail, false)
	if x != nil {
		s.telStart(x, c)
		x.invoke(c)
	}

	h := w.Header()
	h["Content-Type"] = []string{"application/json"}
	h[hdrRequestID] = []string{c.inv.RequestID}
	h[hdrDeadline] = []string{strconv.FormatInt(c.deadline.UnixMilli(), 10)}
	h[hdrFunctionARN] = []string{s.invokedARN(c.inv)}
	if c.inv.TraceID != "" {
		h[hdrTraceID] = []string{c.inv.TraceID}
	}
	if c.inv.ClientContext != "" {
		h[hdrClientContext] = []string{c.inv.ClientContext}
	}
	if c.inv.CognitoIdentity != "" {
		h[hdrCognito] = []string{c.inv.CognitoIdentity}
	}
	h["Content-Length"] = []string{strconv.Itoa(len(c.inv.Payload))}
	close(c.picked)
	w.WriteHeader(http.StatusOK)
	w.Write(c.inv.Payload)
}

// snapshot saves the initialized sandbox when its version asks for SnapStart and the backend
// can, once, before the runtime is handed its first invocation; it reports whether it did. The
// sandbox then goes on as restored from the snapshot: the runtime's pending /next breaks here
// and is asked again, and later sandboxes of the version are restored from the snapshot.
func (s *Sandbox) snapshot(ctx context.Context) bool {
	sn, ok := s.sb.(sandbox.Snapshotter)
	if !ok || s.cfg.SnapshotKey == "" || s.restoreDuration > 0 || s.snapTried.Load() {
		return false
	}
	s.initDuration = time.Since(s.started) // the init the snapshot holds; read after snapTried
	s.snapTried.Store(true)
	if err := sn.Snapshot(context.WithoutCancel(ctx)); err != nil {
		s.logger.Warn("could not snapshot the initialized sandbox; it goes on, and later ones initialize afresh", "err", err)
		return false
	}
	s.logger.Info("snapshot of the initialized sandbox taken", "init_duration", s.initDuration)
	return true
}

func (s *Sandbox) call(w http.ResponseWriter, r *http.Request) *call {
	id := r.PathValue("id")
	s.mu.Lock()
	c := s.calls[id]
	s.mu.Unlock()
	if c == nil {
		runtimeError(w, http.StatusBadRequest, "InvalidRequestID", "Invalid request ID: "+strconv.Quote(id))
	}
	return c
}

// handleResponse takes a function's result. aws-lambda-go may stream it chunked and report a
// failure part-way through in Lambda-Runtime-Function-Error-* trailers.
func (s *Sandbox) handleResponse(w http.ResponseWriter, r *http.Request) {
	c := s.call(w, r)
	if c == nil {
		return
	}
	body, err := s.body.readAll(r.Body, limits.MaxSyncPayload)
	if err != nil {
		bodyError(w, err)
		return
	}
	if len(body) > limits.MaxSyncPayload {
		msg := fmt.Sprintf("Response payload size exceeded maximum allowed payload size (%d bytes).", limits.MaxSyncPayload)
		c.complete(invoke.ErrorDocument(invoke.FunctionResponseSizeTooLarge, msg), true, invoke.FunctionResponseSizeTooLarge)
		runtimeError(w, http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", msg)
		return
	}
	if t := r.Trailer.Get(hdrErrorType); t != "" {
		doc, err := base64.StdEncoding.DecodeString(r.Trailer.Get(hdrErrorBody))
		if err != nil || len(doc) == 0 {
			doc = invoke.ErrorDocument(invoke.ErrorType(t), "the function's response stream failed")
		}
		c.complete(doc, true, invoke.ErrorType(t))
	} else if !c.complete(body, false, "") {
		runtimeError(w, http.StatusBadRequest, "InvalidStateTransition", "the invocation has already been answered")
		return
	}
	answered(w)
}

// handleError takes a function's error document.
func (s *Sandbox) handleError(w http.ResponseWriter, r *http.Request) {
	c := s.call(w, r)
	if c == nil {
		return
	}
	doc, errType, err := s.readErrorDoc(r)
	if err != nil {
		bodyError(w, err)
		return
	}
	if !c.complete(doc, true, errType) {
		runtimeError(w, http.StatusBadRequest, "InvalidStateTransition", "the invocation has already been answered")
		return
	}
	answered(w)
}

// handleInitError takes the error a runtime reports when it cannot initialise.
func (s *Sandbox) handleInitError(w http.ResponseWriter, r *http.Request) {
	doc, errType, err := s.readErrorDoc(r)
	if err != nil {
		bodyError(w, err)
		return
	}
	select {
	case s.initErr <- initError{errType: errType, body: doc}:
	default:
	}
	accepted(w)
}

// readErrorDoc reads an error document (its first maxErrorSize bytes) and its type: the
// Lambda-Runtime-Function-Error-Type header if set (made valid UTF-8, as the document it may
// be written into), else the document's errorType.
func (s *Sandbox) readErrorDoc(r *http.Request) ([]byte, invoke.ErrorType, error) {
	doc, err := s.body.readAll(r.Body, maxErrorSize-1)
	if errors.Is(err, errBodyBudget) {
		return nil, "", err
	}
	errType := invoke.ErrorType(strings.ToValidUTF8(r.Header.Get(hdrErrorType), "\uFFFD"))
	var parsed struct {
		ErrorType invoke.ErrorType `json:"errorType"`
	}
	if json.Unmarshal(doc, &parsed) == nil && parsed.ErrorType != "" && errType == "" {
		errType = parsed.ErrorType
	}
	if !json.Valid(doc) {
		if errType == "" {
			errType = invoke.RuntimeUnknown
		}
		doc = invoke.ErrorDocument(errType, string(doc))
	}
	if errType == "" {
		errType = invoke.RuntimeUnknown
	}
	return doc, errType, nil
}

// bodyError answers a request whose body could not be read: past the sandbox's budget of body
// bytes in flight, or cut short.
func bodyError(w http.ResponseWriter, err error) {
	if errors.Is(err, errBodyBudget) {
		runtimeError(w, http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", err.Error()+" (at most "+strconv.Itoa(MaxRuntimeBodyBytes)+" bytes)")
		return
	}
	runtimeError(w, http.StatusBadRequest, "InvalidRequest", "reading the request body: "+err.Error())
}

var acceptedBody = []byte(`{"status":"OK"}`)

// answered acknowledges a runtime's answer to an invocation, after first letting the
// goroutine waiting for that answer run: completing the call made it runnable on this
// goroutine's processor, where it would otherwise wait until this one had written the
// acknowledgment and gone back to reading the connection (a visible part of every warm
// invoke: bench/README.md has the figure). The caller is waiting for its answer; the runtime's next request does not need the
// acknowledgment sooner.
func answered(w http.ResponseWriter) {
	runtime.Gosched()
	accepted(w)
}

func accepted(w http.ResponseWriter) {
	w.Header()["Content-Type"] = []string{"application/json"}
	w.WriteHeader(http.StatusAccepted)
	w.Write(acceptedBody)
}

func runtimeError(w http.ResponseWriter, status int, errType, msg string) {
	b, err := json.Marshal(struct {
		ErrorMessage string `json:"errorMessage"`
		ErrorType    string `json:"errorType"`
	}{msg, errType})
	if err != nil {
		panic(errors.New("unreachable: marshal of strings failed"))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
}
