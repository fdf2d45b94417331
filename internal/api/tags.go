package api

import (
	"net/http"

	"github.com/ember-serverless/ember/internal/lambdaerr"
)

// TagResourceInput is the body of TagResource.
type TagResourceInput struct {
	Tags map[string]string `json:"Tags"`
}

// ListTagsOutput is the body of ListTags.
type ListTagsOutput struct {
	Tags map[string]string `json:"Tags"`
}

func (s *Server) tagResource(w http.ResponseWriter, r *http.Request, body []byte) error {
	var in TagResourceInput
	if err := decode(body, &in); err != nil {
		return err
	}
	if in.Tags == nil {
		return lambdaerr.InvalidParameter("1 validation error detected: Value null at 'tags' failed to satisfy constraint: Member must not be null")
	}
	if err := s.registry.TagResource(r.Context(), r.PathValue("arn"), in.Tags); err != nil {
		return err
	}
	noContent(w)
	return nil
}

func (s *Server) untagResource(w http.ResponseWriter, r *http.Request, _ []byte) error {
	if err := s.registry.UntagResource(r.Context(), r.PathValue("arn"), r.URL.Query()["tagKeys"]); err != nil {
		return err
	}
	noContent(w)
	return nil
}

func (s *Server) listTags(w http.ResponseWriter, r *http.Request, _ []byte) error {
	tags, err := s.registry.ListTags(r.PathValue("arn"))
	if err != nil {
		return err
	}
	if tags == nil {
		tags = map[string]string{}
	}
	writeJSON(w, http.StatusOK, &ListTagsOutput{Tags: tags})
	return nil
}

// noContent answers 204 with no body, as Lambda's operations without output do.
func noContent(w http.ResponseWriter) {
	w.Header()["Content-Type"] = []string{"application/json"}
	w.WriteHeader(http.StatusNoContent)
}
