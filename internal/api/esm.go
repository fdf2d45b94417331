package api

import (
	"context"
	"net/http"
	"strconv"

	"github.com/ember-serverless/ember/internal/esm"
	"github.com/ember-serverless/ember/internal/lambdaerr"
)

// EventSourceMappings is the event source mappings' service (*esm.Service).
type EventSourceMappings interface {
	Create(ctx context.Context, in *esm.Input) (*esm.Mapping, error)
	Get(id string) (*esm.Mapping, error)
	Update(ctx context.Context, id string, in *esm.Input) (*esm.Mapping, error)
	Delete(ctx context.Context, id string) (*esm.Mapping, error)
	List(functionName, sourceArn, marker string, maxItems int) ([]*esm.Mapping, string, error)
}

var _ EventSourceMappings = (*esm.Service)(nil)

// WithEventSourceMappings sets the event source mappings' service. Without it, their
// operations are unknown.
func WithEventSourceMappings(m EventSourceMappings) Option { return func(s *Server) { s.esm = m } }

var errNoESM = &lambdaerr.Error{Type: lambdaerr.UnknownOperation, Status: http.StatusNotFound,
	Message: "Event source mappings are not enabled on this server."}

func (s *Server) createEventSourceMapping(w http.ResponseWriter, r *http.Request, body []byte) error {
	if s.esm == nil {
		return errNoESM
	}
	var in esm.Input
	if err := decode(body, &in); err != nil {
		return err
	}
	m, err := s.esm.Create(context.WithoutCancel(r.Context()), &in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, m.Answer())
	return nil
}

func (s *Server) getEventSourceMapping(w http.ResponseWriter, r *http.Request, _ []byte) error {
	if s.esm == nil {
		return errNoESM
	}
	m, err := s.esm.Get(r.PathValue("uuid"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, m.Answer())
	return nil
}

func (s *Server) updateEventSourceMapping(w http.ResponseWriter, r *http.Request, body []byte) error {
	if s.esm == nil {
		return errNoESM
	}
	var in esm.Input
	if err := decode(body, &in); err != nil {
		return err
	}
	m, err := s.esm.Update(context.WithoutCancel(r.Context()), r.PathValue("uuid"), &in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, m.Answer())
	return nil
}

func (s *Server) deleteEventSourceMapping(w http.ResponseWriter, r *http.Request, _ []byte) error {
	if s.esm == nil {
		return errNoESM
	}
	m, err := s.esm.Delete(context.WithoutCancel(r.Context()), r.PathValue("uuid"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, m.Answer())
	return nil
}

// listEventSourceMappingsOutput is Lambda's ListEventSourceMappingsResponse.
type listEventSourceMappingsOutput struct {
	EventSourceMappings []any  `json:"EventSourceMappings"`
	NextMarker          string `json:"NextMarker,omitempty"`
}

func (s *Server) listEventSourceMappings(w http.ResponseWriter, r *http.Request, _ []byte) error {
	if s.esm == nil {
		return errNoESM
	}
	q := r.URL.Query()
	maxItems := 0
	if v := q.Get("MaxItems"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > esm.MaxListItems {
			return lambdaerr.InvalidParameter("1 validation error detected: Value '%s' at 'maxItems' failed to satisfy constraint: "+
				"Member must have value less than or equal to 10000 and greater than or equal to 1", v)
		}
		maxItems = n
	}
	list, next, err := s.esm.List(q.Get("FunctionName"), q.Get("EventSourceArn"), q.Get("Marker"), maxItems)
	if err != nil {
		return err
	}
	out := listEventSourceMappingsOutput{EventSourceMappings: make([]any, 0, len(list)), NextMarker: next}
	for _, m := range list {
		out.EventSourceMappings = append(out.EventSourceMappings, m.Answer())
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
