package api

import (
	"context"
	"net/http"
	"strconv"

	"github.com/ember-serverless/ember/internal/apimodel"
	"github.com/ember-serverless/ember/internal/lambdaerr"

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

// concurrencyOf is GetFunction's Concurrency: the function's reservation, whichever version
// or alias was asked for, and absent without one.
func (s *Server) concurrencyOf(f *control.Function) *control.Concurrency {
	n, ok := s.registry.Reserved(f.Config.FunctionName)
	if !ok {
		return nil
	}
	return &control.Concurrency{ReservedConcurrentExecutions: &n}
}

// Provisioned is what the API needs of the provisioned concurrency configs
// (*control.Provisioned).
type Provisioned interface {
	Put(ctx context.Context, nameOrARN, qualifier string, n *int) (*control.ProvisionedConcurrencyConfig, error)
	Get(nameOrARN, qualifier string) (*control.ProvisionedConcurrencyConfig, error)
	Delete(ctx context.Context, nameOrARN, qualifier string) error
	List(nameOrARN, marker string, maxItems int) ([]*control.ProvisionedConcurrencyConfig, string, error)
}

var _ Provisioned = (*control.Provisioned)(nil)

// WithProvisioned sets the provisioned concurrency configs; without it their operations are
// unknown.
func WithProvisioned(p Provisioned) Option { return func(s *Server) { s.provisioned = p } }

// PutProvisionedConcurrencyConfigInput is the body of PutProvisionedConcurrencyConfig.
type PutProvisionedConcurrencyConfigInput struct {
	ProvisionedConcurrentExecutions *int `json:"ProvisionedConcurrentExecutions"`
}

// ListProvisionedConcurrencyConfigsOutput is the body of ListProvisionedConcurrencyConfigs.
type ListProvisionedConcurrencyConfigsOutput struct {
	ProvisionedConcurrencyConfigs []*control.ProvisionedConcurrencyConfig `json:"ProvisionedConcurrencyConfigs"`
	NextMarker                    string                                  `json:"NextMarker,omitempty"`
}

func (s *Server) provisionedOrUnknown(r *http.Request) error {
	if s.provisioned == nil {
		return &lambdaerr.Error{Type: lambdaerr.UnknownOperation, Status: http.StatusNotFound,
			Message: "The requested operation is not supported by this server: " + r.Method + " " + r.URL.Path}
	}
	return nil
}

func (s *Server) putProvisionedConcurrency(w http.ResponseWriter, r *http.Request, body []byte) error {
	if err := s.provisionedOrUnknown(r); err != nil {
		return err
	}
	var in PutProvisionedConcurrencyConfigInput
	if err := decode(body, &in); err != nil {
		return err
	}
	c, err := s.provisioned.Put(r.Context(), r.PathValue("name"), r.URL.Query().Get("Qualifier"), in.ProvisionedConcurrentExecutions)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, c)
	return nil
}

// getProvisionedConcurrency serves GetProvisionedConcurrencyConfig, and
// ListProvisionedConcurrencyConfigs, which shares its path (?List=ALL).
func (s *Server) getProvisionedConcurrency(w http.ResponseWriter, r *http.Request, _ []byte) error {
	if err := s.provisionedOrUnknown(r); err != nil {
		return err
	}
	q := r.URL.Query()
	if q.Get("List") == "ALL" {
		maxItems := 0
		if v := q.Get("MaxItems"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 50 {
				return lambdaerr.InvalidParameter("1 validation error detected: Value '%s' at 'maxItems' failed to satisfy constraint: "+
					"Member must have value less than or equal to 50", v)
			}
			maxItems = n
		}
		cs, next, err := s.provisioned.List(r.PathValue("name"), q.Get("Marker"), maxItems)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, &ListProvisionedConcurrencyConfigsOutput{ProvisionedConcurrencyConfigs: cs, NextMarker: next})
		return nil
	}
	if err := apimodel.Validate("GetProvisionedConcurrencyConfig", r, nil); err != nil {
		return err
	}
	c, err := s.provisioned.Get(r.PathValue("name"), q.Get("Qualifier"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, c)
	return nil
}

func (s *Server) deleteProvisionedConcurrency(w http.ResponseWriter, r *http.Request, _ []byte) error {
	if err := s.provisionedOrUnknown(r); err != nil {
		return err
	}
	if err := s.provisioned.Delete(r.Context(), r.PathValue("name"), r.URL.Query().Get("Qualifier")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
