package api

import (
	"net/http"

	"github.com/ember-serverless/ember/internal/control"
)

// AddPermissionOutput is the body of AddPermission.
type AddPermissionOutput struct {
	Statement string `json:"Statement"`
}

// GetPolicyOutput is the body of GetPolicy.
type GetPolicyOutput struct {
	Policy     string `json:"Policy"`
	RevisionId string `json:"RevisionId"`
}

func (s *Server) addPermission(w http.ResponseWriter, r *http.Request, body []byte) error {
	var in control.AddPermissionInput
	if err := decode(body, &in); err != nil {
		return err
	}
	in.FunctionName, in.Qualifier = r.PathValue("name"), r.URL.Query().Get("Qualifier")
	st, err := s.registry.AddPermission(r.Context(), &in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, &AddPermissionOutput{Statement: st})
	return nil
}

func (s *Server) removePermission(w http.ResponseWriter, r *http.Request, _ []byte) error {
	q := r.URL.Query()
	err := s.registry.RemovePermission(r.Context(), r.PathValue("name"), q.Get("Qualifier"), r.PathValue("sid"), q.Get("RevisionId"))
	if err != nil {
		return err
	}
	noContent(w)
	return nil
}

func (s *Server) getPolicy(w http.ResponseWriter, r *http.Request, _ []byte) error {
	policy, rev, err := s.registry.GetPolicy(r.PathValue("name"), r.URL.Query().Get("Qualifier"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, &GetPolicyOutput{Policy: policy, RevisionId: rev})
	return nil
}
