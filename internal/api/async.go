package api

import (
	"context"
	"net/http"
	"strconv"

	"github.com/ember-serverless/ember/internal/async"
	"github.com/ember-serverless/ember/internal/control"
	"github.com/ember-serverless/ember/internal/invoke"
	"github.com/ember-serverless/ember/internal/lambdaerr"
)

// Async is the asynchronous invocation path (*async.Service): the intake of Event invokes and
// the event-invoke configurations.
type Async interface {
	Enqueue(ctx context.Context, req *invoke.Request) (*invoke.Response, error)
	Configs() *async.ConfigStore
	FunctionQueue(ctx context.Context, function string) (async.FunctionStats, error)
}

var _ Async = (*async.Service)(nil)

// WithAsync sets the asynchronous invocation path. Without it, Event invokes are handed to the
// invoker (which refuses them) and the event-invoke-config operations are unknown.
func WithAsync(a Async) Option { return func(s *Server) { s.async = a } }

// enqueue answers an Event invoke: 202 once the event is stored.
func (s *Server) enqueue(w http.ResponseWriter, req *invoke.Request, body any) error {
	// The caller going away must not cut short the storing of an event it may see accepted.
	resp, err := s.async.Enqueue(context.Background(), req)
	if err != nil {
		return err
	}
	w.Header()["X-Amzn-Requestid"] = []string{resp.RequestID}
	if body != nil {
		writeJSON(w, http.StatusAccepted, body)
		return nil
	}
	w.Header()["Content-Length"] = []string{"0"}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// invokeAsync serves the deprecated InvokeAsync operation on the same path as an Event invoke.
func (s *Server) invokeAsync(w http.ResponseWriter, r *http.Request, body []byte) error {
	if s.async == nil {
		return errNoAsync
	}
	req, err := s.decodeInvoke(r.PathValue("name"), "", http.Header{}, body)
	if err != nil {
		return err
	}
	req.Type = invoke.Event
	if id := w.Header()["X-Amzn-Requestid"]; len(id) > 0 {
		req.RequestID = id[0]
	}
	return s.invokeNotFound(req, s.enqueue(w, req, struct {
		Status int `json:"Status"`
	}{http.StatusAccepted}))
}

func invokeAsyncTooLarge(op string) error {
	return lambdaerr.New(lambdaerr.RequestTooLarge, "Request must be smaller than %d bytes for the %s operation", async.MaxInvokeAsyncPayload, op)
}

var errNoAsync = &lambdaerr.Error{Type: lambdaerr.UnknownOperation, Status: http.StatusNotFound,
	Message: "Asynchronous invocation is not enabled on this server."}

// eventInvokeTarget resolves an event-invoke-config operation's function and qualifier: the
// function must exist, and so must the qualifier.
func (s *Server) eventInvokeTarget(r *http.Request) (name, qualifier string, err error) {
	if s.async == nil {
		return "", "", errNoAsync
	}
	if _, qualifier, err = s.names.ParseQualifiedName(r.PathValue("name"), r.URL.Query().Get("Qualifier"), control.MaxFunctionNameLen); err != nil {
		return "", "", err
	}
	f, err := s.registry.Resolve(r.PathValue("name"), qualifier)
	if err != nil {
		return "", "", err
	}
	return f.Config.FunctionName, qualifier, nil
}

func (s *Server) putEventInvokeConfig(w http.ResponseWriter, r *http.Request, body []byte) error {
	return s.writeEventInvokeConfig(w, r, body, (*async.ConfigStore).Put)
}

func (s *Server) updateEventInvokeConfig(w http.ResponseWriter, r *http.Request, body []byte) error {
	return s.writeEventInvokeConfig(w, r, body, (*async.ConfigStore).Update)
}

func (s *Server) writeEventInvokeConfig(w http.ResponseWriter, r *http.Request, body []byte,
	op func(*async.ConfigStore, context.Context, string, string, *async.ConfigInput) (*async.EventInvokeConfig, error)) error {
	name, qualifier, err := s.eventInvokeTarget(r)
	if err != nil {
		return err
	}
	var in async.ConfigInput
	if err := decode(body, &in); err != nil {
		return err
	}
	c, err := op(s.async.Configs(), r.Context(), name, qualifier, &in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, c)
	return nil
}

func (s *Server) getEventInvokeConfig(w http.ResponseWriter, r *http.Request, _ []byte) error {
	name, qualifier, err := s.eventInvokeTarget(r)
	if err != nil {
		return err
	}
	c, err := s.async.Configs().Get(name, qualifier)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, c)
	return nil
}

func (s *Server) deleteEventInvokeConfig(w http.ResponseWriter, r *http.Request, _ []byte) error {
	name, qualifier, err := s.eventInvokeTarget(r)
	if err != nil {
		return err
	}
	if err := s.async.Configs().Delete(r.Context(), name, qualifier); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// listEventInvokeConfigsOutput is Lambda's ListFunctionEventInvokeConfigsResponse.
type listEventInvokeConfigsOutput struct {
	FunctionEventInvokeConfigs []*async.EventInvokeConfig `json:"FunctionEventInvokeConfigs"`
	NextMarker                 string                     `json:"NextMarker,omitempty"`
}

func (s *Server) listEventInvokeConfigs(w http.ResponseWriter, r *http.Request, _ []byte) error {
	name, _, err := s.eventInvokeTarget(r)
	if err != nil {
		return err
	}
	maxItems := 0
	if v := r.URL.Query().Get("MaxItems"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > async.MaxListItems {
			return lambdaerr.InvalidParameter("1 validation error detected: Value '%s' at 'maxItems' failed to satisfy constraint: "+
				"Member must have value less than or equal to 50 and greater than or equal to 1", v)
		}
		maxItems = n
	}
	list, next, err := s.async.Configs().List(name, r.URL.Query().Get("Marker"), maxItems)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, listEventInvokeConfigsOutput{FunctionEventInvokeConfigs: list, NextMarker: next})
	return nil
}

// QueuePath is the route of Ember's own GetFunctionAsyncQueue operation (not Lambda's): a
// function's asynchronous queue, as `ember queue` shows it.
const QueuePath = "/ember/2026-12-01/functions/"

// AsyncQueue is GetFunctionAsyncQueue's answer.
type AsyncQueue struct {
	FunctionName          string  `json:"FunctionName"`
	QueueDepth            uint64  `json:"QueueDepth"`
	OldestEventAgeSeconds float64 `json:"OldestEventAgeSeconds"`
	EventsReceived        int64   `json:"EventsReceived"`
	EventsSucceeded       int64   `json:"EventsSucceeded"`
	FunctionErrors        int64   `json:"FunctionErrors"`
	Retries               int64   `json:"Retries"`
	EventsDropped         int64   `json:"EventsDropped"`
	EventsFailed          int64   `json:"EventsFailed"`
	DestinationDeliveries int64   `json:"DestinationDeliveries"`
	DeadLetters           int64   `json:"DeadLetters"`
	Duplicates            int64   `json:"Duplicates"`
}

func (s *Server) getAsyncQueue(w http.ResponseWriter, r *http.Request, _ []byte) error {
	name, _, err := s.eventInvokeTarget(r)
	if err != nil {
		return err
	}
	q, err := s.async.FunctionQueue(r.Context(), name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, AsyncQueue{FunctionName: name, QueueDepth: q.Depth, OldestEventAgeSeconds: q.OldestAge.Seconds(),
		EventsReceived: q.Received, EventsSucceeded: q.Succeeded, FunctionErrors: q.FunctionErrors, Retries: q.Retried,
		EventsDropped: q.Dropped, EventsFailed: q.Failed, DestinationDeliveries: q.Destinations, DeadLetters: q.DeadLetters,
		Duplicates: q.Duplicates})
	return nil
}
