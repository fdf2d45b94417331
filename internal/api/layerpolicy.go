package api

import (
	"net/http"

	"github.com/ember-serverless/ember/internal/control"
)

// AddLayerVersionPermissionOutput is the body of AddLayerVersionPermission.
type AddLayerVersionPermissionOutput struct {
	Statement  string `json:"Statement"`
	RevisionId string `json:"RevisionId"`
}

func (s *Server) addLayerVersionPermission(w http.ResponseWriter, r *http.Request, body []byte) error {
	layers, n, err := s.layerVersion(r)
	if err != nil {
		return err
	}
	var in control.AddLayerVersionPermissionInput
	if err := decode(body, &in); err != nil {
		return err
	}
	in.LayerName, in.VersionNumber, in.RevisionId = r.PathValue("layer"), n, r.URL.Query().Get("RevisionId")
	st, rev, err := layers.AddPermission(r.Context(), &in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, &AddLayerVersionPermissionOutput{Statement: st, RevisionId: rev})
	return nil
}

func (s *Server) removeLayerVersionPermission(w http.ResponseWriter, r *http.Request, _ []byte) error {
	layers, n, err := s.layerVersion(r)
	if err != nil {
		return err
	}
	if err := layers.RemovePermission(r.Context(), r.PathValue("layer"), n, r.PathValue("sid"), r.URL.Query().Get("RevisionId")); err != nil {
		return err
	}
	noContent(w)
	return nil
}

func (s *Server) getLayerVersionPolicy(w http.ResponseWriter, r *http.Request, _ []byte) error {
	layers, n, err := s.layerVersion(r)
	if err != nil {
		return err
	}
	policy, rev, err := layers.GetPolicy(r.PathValue("layer"), n)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, &GetPolicyOutput{Policy: policy, RevisionId: rev})
	return nil
}
