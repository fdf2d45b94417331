package api

import (
	"net/http"

	"github.com/ember-serverless/ember/internal/control"
)

// PutFunctionConcurrencyInput is the body of PutFunctionConcurrency.
type PutFunctionConcurrencyInput struct {
	ReservedConcurrentExecutions *int `json:"ReservedConcurrentExecutions"`
}

func (s *Server) putFunctionConcurrency(w http.ResponseWriter, r *http.Request, body []byte) error {
	var in PutFunctionConcurrencyInput
	if err := decode(body, &in); err != nil {
		return err
	}
	c, err := s.registry.PutFunctionConcurrency(r.Context(), r.PathValue("name"), in.ReservedConcurrentExecutions)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, c)
	return nil
}

func (s *Server) getFunctionConcurrency(w http.ResponseWriter, r *http.Request, _ []byte) error {
	c, err := s.registry.GetFunctionConcurrency(r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, c)
	return nil
}

func (s *Server) deleteFunctionConcurrency(w http.ResponseWriter, r *http.Request, _ []byte) error {
	if err := s.registry.DeleteFunctionConcurrency(r.Context(), r.PathValue("name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// concurrencyOf is GetFunction's Concurrency: present only when the function has a reservation.
func concurrencyOf(f *control.Function) *control.Concurrency {
	if f.Reserved == nil {
		return nil
	}
	return &control.Concurrency{ReservedConcurrentExecutions: f.Reserved}
}
