package api

import (
	"net/http"
)

// PutRuntimeManagementConfigInput is the body of PutRuntimeManagementConfig.
type PutRuntimeManagementConfigInput struct {
	UpdateRuntimeOn   string `json:"UpdateRuntimeOn"`
	RuntimeVersionArn string `json:"RuntimeVersionArn"`
}

func (s *Server) getRuntimeManagementConfig(w http.ResponseWriter, r *http.Request, _ []byte) error {
	c, err := s.registry.GetRuntimeManagementConfig(r.PathValue("name"), r.URL.Query().Get("Qualifier"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, c)
	return nil
}

func (s *Server) putRuntimeManagementConfig(w http.ResponseWriter, r *http.Request, body []byte) error {
	var in PutRuntimeManagementConfigInput
	if err := decode(body, &in); err != nil {
		return err
	}
	c, err := s.registry.PutRuntimeManagementConfig(r.Context(), r.PathValue("name"), r.URL.Query().Get("Qualifier"), in.UpdateRuntimeOn, in.RuntimeVersionArn)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, c)
	return nil
}
