package sandboxtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Response is what the runtime answered to one invoke.
type Response struct {
	Payload []byte
	// Error is true when the runtime posted to /error instead of /response.
	Error bool
}

// RuntimeAPI is a minimal Lambda Runtime API for one sandbox: /next hands out invocations,
// /response and /error answer them. It is enough for aws-lambda-go; the worker's is the
// real one.
type RuntimeAPI struct {
	srv  *http.Server
	next chan *invocation

	mu      sync.Mutex
	pending map[string]*invocation
}

type invocation struct {
	id       string
	payload  []byte
	deadline time.Time
	res      chan Response
}

// ServeRuntimeAPI serves the Runtime API on ln until Close.
func ServeRuntimeAPI(ln net.Listener) *RuntimeAPI {
	r := &RuntimeAPI{next: make(chan *invocation), pending: map[string]*invocation{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /2018-06-01/runtime/invocation/next", r.handleNext)
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/response", r.handleAnswer(false))
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/error", r.handleAnswer(true))
	mux.HandleFunc("POST /2018-06-01/runtime/init/error", func(w http.ResponseWriter, req *http.Request) {
		io.Copy(io.Discard, req.Body)
		w.WriteHeader(http.StatusAccepted)
	})
	r.srv = &http.Server{Handler: mux}
	go r.srv.Serve(ln)
	return r
}

// Close stops serving.
func (r *RuntimeAPI) Close() error { return r.srv.Close() }

func (r *RuntimeAPI) handleNext(w http.ResponseWriter, req *http.Request) {
	select {
	case inv := <-r.next:
		h := w.Header()
		h.Set("Lambda-Runtime-Aws-Request-Id", inv.id)
		h.Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(inv.deadline.UnixMilli(), 10))
		h.Set("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:000000000000:function:sandboxtest")
		h.Set("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000")
		h.Set("Content-Type", "application/json")
		w.Write(inv.payload)
	case <-req.Context().Done():
	}
}

func (r *RuntimeAPI) handleAnswer(isErr bool) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		body, err := io.ReadAll(req.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		inv, ok := r.pending[req.PathValue("id")]
		delete(r.pending, req.PathValue("id"))
		r.mu.Unlock()
		if !ok {
			http.Error(w, "unknown request id", http.StatusBadRequest)
			return
		}
		inv.res <- Response{Payload: body, Error: isErr}
		w.WriteHeader(http.StatusAccepted)
	}
}

// ErrRuntimeExited is returned by Invoke when the sandbox ended before it answered.
var ErrRuntimeExited = errors.New("runtime exited before answering")

// Invoke hands payload to the runtime and waits for its answer, for ctx, or for done (the
// sandbox's Done channel) to close.
func (r *RuntimeAPI) Invoke(ctx context.Context, done <-chan struct{}, payload []byte) (Response, error) {
	var b [8]byte
	rand.Read(b[:])
	inv := &invocation{id: hex.EncodeToString(b[:]), payload: payload, res: make(chan Response, 1),
		deadline: time.Now().Add(15 * time.Minute)}
	if d, ok := ctx.Deadline(); ok {
		inv.deadline = d
	}
	r.mu.Lock()
	r.pending[inv.id] = inv
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		delete(r.pending, inv.id)
		r.mu.Unlock()
	}()
	select {
	case r.next <- inv:
	case <-ctx.Done():
		return Response{}, ctx.Err()
	case <-done:
		return Response{}, ErrRuntimeExited
	}
	select {
	case res := <-inv.res:
		return res, nil
	case <-ctx.Done():
		return Response{}, ctx.Err()
	case <-done:
		return Response{}, ErrRuntimeExited
	}
}
