package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// runtimeAPI is the least Runtime API an aws-lambda-go function needs: one invocation at a
// time, and a signal when the runtime first asks for work.
type runtimeAPI struct {
	srv   *http.Server
	ready chan struct{}
	once  sync.Once
	next  chan []byte
	resp  chan []byte
	seq   int
}

func serveRuntimeAPI(ln net.Listener) *runtimeAPI {
	r := &runtimeAPI{ready: make(chan struct{}), next: make(chan []byte), resp: make(chan []byte, 1)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /2018-06-01/runtime/invocation/next", func(w http.ResponseWriter, req *http.Request) {
		r.once.Do(func() { close(r.ready) })
		select {
		case p := <-r.next:
			r.seq++
			h := w.Header()
			h.Set("Lambda-Runtime-Aws-Request-Id", "req-"+strconv.Itoa(r.seq))
			h.Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(time.Now().Add(time.Minute).UnixMilli(), 10))
			h.Set("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:000000000000:function:echo")
			w.Write(p)
		case <-req.Context().Done():
		}
	})
	answer := func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		w.WriteHeader(http.StatusAccepted)
		select {
		case r.resp <- b:
		default:
		}
	}
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/response", answer)
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/error", answer)
	mux.HandleFunc("POST /2018-06-01/runtime/init/error", answer)
	r.srv = &http.Server{Handler: mux}
	go r.srv.Serve(ln)
	return r
}

func (r *runtimeAPI) Close() { r.srv.Close() }

var errExited = errors.New("the runtime exited")

// waitReady waits until the runtime first asks for an invocation.
func (r *runtimeAPI) waitReady(ctx context.Context, done <-chan struct{}) error {
	select {
	case <-r.ready:
		return nil
	case <-done:
		return errExited
	case <-ctx.Done():
		return ctx.Err()
	}
}

// invoke sends payload and waits for the answer, which must be payload back.
func (r *runtimeAPI) invoke(ctx context.Context, done <-chan struct{}, payload []byte) error {
	select {
	case r.next <- payload:
	case <-done:
		return errExited
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case b := <-r.resp:
		if string(b) != string(payload) {
			return fmt.Errorf("answer %q, want %q", b, payload)
		}
		return nil
	case <-done:
		return errExited
	case <-ctx.Done():
		return ctx.Err()
	}
}
