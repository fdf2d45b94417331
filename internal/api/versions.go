package api

import (
	"net/http"
	"strconv"

	"github.com/ember-serverless/ember/internal/control"
	"github.com/ember-serverless/ember/internal/lambdaerr"
)

// ListVersionsByFunctionOutput is the body of ListVersionsByFunction.
type ListVersionsByFunctionOutput struct {
	Versions   []*control.FunctionConfiguration `json:"Versions"`
	NextMarker string                           `json:"NextMarker,omitempty"`
}

// ListAliasesOutput is the body of ListAliases.
type ListAliasesOutput struct {
	Aliases    []*control.AliasConfiguration `json:"Aliases"`
	NextMarker string                        `json:"NextMarker,omitempty"`
}

func (s *Server) publishVersion(w http.ResponseWriter, r *http.Request, body []byte) error {
	var in control.PublishVersionInput
	if err := decode(body, &in); err != nil {
		return err
	}
	in.FunctionName = r.PathValue("name")
	f, err := s.registry.PublishVersion(r.Context(), &in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, &f.Config)
	return nil
}

func (s *Server) listVersionsByFunction(w http.ResponseWriter, r *http.Request, _ []byte) error {
	maxItems, err := listMaxItems(r)
	if err != nil {
		return err
	}
	fs, next, err := s.registry.ListVersions(r.PathValue("name"), r.URL.Query().Get("Marker"), maxItems)
	if err != nil {
		return err
	}
	out := ListVersionsByFunctionOutput{Versions: make([]*control.FunctionConfiguration, len(fs)), NextMarker: next}
	for i, f := range fs {
		out.Versions[i] = &f.Config
	}
	writeJSON(w, http.StatusOK, &out)
	return nil
}

func (s *Server) createAlias(w http.ResponseWriter, r *http.Request, body []byte) error {
	var in control.CreateAliasInput
	if err := decode(body, &in); err != nil {
		return err
	}
	in.FunctionName = r.PathValue("name")
	a, err := s.registry.CreateAlias(r.Context(), &in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, &a.Config)
	return nil
}

func (s *Server) getAlias(w http.ResponseWriter, r *http.Request, _ []byte) error {
	a, err := s.registry.GetAlias(r.PathValue("name"), r.PathValue("alias"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, &a.Config)
	return nil
}

func (s *Server) updateAlias(w http.ResponseWriter, r *http.Request, body []byte) error {
	var in control.UpdateAliasInput
	if err := decode(body, &in); err != nil {
		return err
	}
	in.FunctionName, in.Name = r.PathValue("name"), r.PathValue("alias")
	a, err := s.registry.UpdateAlias(r.Context(), &in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, &a.Config)
	return nil
}

func (s *Server) deleteAlias(w http.ResponseWriter, r *http.Request, _ []byte) error {
	if err := s.registry.DeleteAlias(r.Context(), r.PathValue("name"), r.PathValue("alias")); err != nil {
		return err
	}
	noContent(w)
	return nil
}

func (s *Server) listAliases(w http.ResponseWriter, r *http.Request, _ []byte) error {
	maxItems, err := listMaxItems(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	as, next, err := s.registry.ListAliases(r.PathValue("name"), q.Get("FunctionVersion"), q.Get("Marker"), maxItems)
	if err != nil {
		return err
	}
	out := ListAliasesOutput{Aliases: make([]*control.AliasConfiguration, len(as)), NextMarker: next}
	for i, a := range as {
		out.Aliases[i] = &a.Config
	}
	writeJSON(w, http.StatusOK, &out)
	return nil
}

// listMaxItems parses the MaxItems of ListVersionsByFunction and ListAliases (0 when absent):
// the model allows 1 to 10,000, and a page holds at most 50.
func listMaxItems(r *http.Request) (int, error) {
	v := r.URL.Query().Get("MaxItems")
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 10000 {
		return 0, lambdaerr.InvalidParameter("1 validation error detected: Value '%s' at 'maxItems' failed to satisfy constraint: "+
			"Member must have value less than or equal to 10000 and greater than or equal to 1", v)
	}
	return n, nil
}
