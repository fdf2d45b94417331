package api

import (
	"context"
	"github.com/ember-serverless/ember/internal/apimodel"
	"net/http"
	"net/url"
	"strconv"

	"github.com/ember-serverless/ember/internal/control"
	"github.com/ember-serverless/ember/internal/lambdaerr"
)

// Layers is what the API needs of the layer registry (*control.Layers).
type Layers interface {
	Publish(ctx context.Context, in *control.PublishLayerVersionInput) (*control.LayerVersion, error)
	Get(nameOrARN string, version int64) (*control.LayerVersion, error)
	GetByARN(arn string) (*control.LayerVersion, error)
	List(runtime, arch, marker string, maxItems int) ([]*control.LayersListItem, string, error)
	ListVersions(nameOrARN, runtime, arch, marker string, maxItems int) ([]*control.LayerVersion, string, error)
	Delete(ctx context.Context, nameOrARN string, version int64) error
	AddPermission(ctx context.Context, in *control.AddLayerVersionPermissionInput) (statement, revisionID string, err error)
	RemovePermission(ctx context.Context, nameOrARN string, version int64, sid, revisionID string) error
	GetPolicy(nameOrARN string, version int64) (policy, revisionID string, err error)
}

var _ Layers = (*control.Layers)(nil)

// WithLayers sets the layer registry (required for the layer operations to be served).
func WithLayers(l Layers) Option { return func(s *Server) { s.layers = l } }

// layerCodePath is where a layer version's Content.Location points, signed like codePath.
const layerCodePath = "/ember/layer-code/"

// ListLayersOutput is the body of ListLayers.
type ListLayersOutput struct {
	NextMarker string                    `json:"NextMarker,omitempty"`
	Layers     []*control.LayersListItem `json:"Layers"`
}

// ListLayerVersionsOutput is the body of ListLayerVersions.
type ListLayerVersionsOutput struct {
	NextMarker    string                           `json:"NextMarker,omitempty"`
	LayerVersions []*control.LayerVersionsListItem `json:"LayerVersions"`
}

func (s *Server) layerRegistry() (Layers, error) {
	if s.layers == nil {
		return nil, lambdaerr.New(lambdaerr.ServiceException, "Layers are not configured on this server.")
	}
	return s.layers, nil
}

// layerOutput is v as GetLayerVersion returns it, with a signed download location.
func (s *Server) layerOutput(r *http.Request, v *control.LayerVersion) *control.LayerVersionOutput {
	out := v.Output()
	out.Content.Location = s.layerCodeURL(r, v)
	return out
}

// layerCodeURL is a signed download location for a layer version's archive, valid for
// CodeURLExpiry. The signed name ("layer/NAME/VERSION") cannot be a function's name.
func (s *Server) layerCodeURL(r *http.Request, v *control.LayerVersion) string {
	version := strconv.FormatInt(v.Version, 10)
	expires := strconv.FormatInt(s.now().Add(CodeURLExpiry).Unix(), 10)
	q := url.Values{}
	q.Set("sha256", v.Code.Sha256)
	q.Set("expires", expires)
	q.Set("signature", s.codeSignature("layer/"+v.Name+"/"+version, v.Code.Sha256, expires))
	return s.baseURL(r) + layerCodePath + url.PathEscape(v.Name) + "/" + version + "?" + q.Encode()
}

// baseURL is where clients reach this server.
func (s *Server) baseURL(r *http.Request) string {
	if s.cfg.PublicURL != "" {
		return s.cfg.PublicURL
	}
	if r.TLS != nil {
		return "https://" + r.Host
	}
	return "http://" + r.Host
}

// layerVersionNumber parses the {version} path segment.
func layerVersionNumber(r *http.Request) (int64, error) {
	v := r.PathValue("version")
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, lambdaerr.InvalidParameter("1 validation error detected: Value '%s' at 'versionNumber' failed to satisfy constraint: "+
			"Member must be a number", v)
	}
	return n, nil
}

// layerVersion is the layer registry and the layer version number in r's path, for the
// operations on one layer version.
func (s *Server) layerVersion(r *http.Request) (Layers, int64, error) {
	layers, err := s.layerRegistry()
	if err != nil {
		return nil, 0, err
	}
	n, err := layerVersionNumber(r)
	return layers, n, err
}

// layerMaxItems parses a list operation's MaxItems (0 when absent).
func layerMaxItems(r *http.Request) (int, error) {
	v := r.URL.Query().Get("MaxItems")
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > control.MaxLayerListItems {
		return 0, lambdaerr.InvalidParameter("1 validation error detected: Value '%s' at 'maxItems' failed to satisfy constraint: "+
			"Member must have value less than or equal to 50 and greater than or equal to 1", v)
	}
	return n, nil
}

func (s *Server) publishLayerVersion(w http.ResponseWriter, r *http.Request, body []byte) error {
	layers, err := s.layerRegistry()
	if err != nil {
		return err
	}
	var in control.PublishLayerVersionInput
	if err := decode(body, &in); err != nil {
		return err
	}
	in.LayerName = r.PathValue("layer")
	v, err := layers.Publish(r.Context(), &in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, s.layerOutput(r, v))
	return nil
}

func (s *Server) getLayerVersion(w http.ResponseWriter, r *http.Request, _ []byte) error {
	layers, n, err := s.layerVersion(r)
	if err != nil {
		return err
	}
	v, err := layers.Get(r.PathValue("layer"), n)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.layerOutput(r, v))
	return nil
}

// listLayers serves ListLayers, and GetLayerVersionByArn, which shares its path
// (GET /2018-10-31/layers?find=LayerVersion&Arn=...).
func (s *Server) listLayers(w http.ResponseWriter, r *http.Request, _ []byte) error {
	layers, err := s.layerRegistry()
	if err != nil {
		return err
	}
	q := r.URL.Query()
	if q.Get("find") == "LayerVersion" {
		if err := apimodel.Validate("GetLayerVersionByArn", r, nil); err != nil {
			return err
		}
		v, err := layers.GetByARN(q.Get("Arn"))
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, s.layerOutput(r, v))
		return nil
	}
	maxItems, err := layerMaxItems(r)
	if err != nil {
		return err
	}
	items, next, err := layers.List(q.Get("CompatibleRuntime"), q.Get("CompatibleArchitecture"), q.Get("Marker"), maxItems)
	if err != nil {
		return err
	}
	out := ListLayersOutput{NextMarker: next, Layers: items}
	if out.Layers == nil {
		out.Layers = []*control.LayersListItem{}
	}
	writeJSON(w, http.StatusOK, &out)
	return nil
}

func (s *Server) listLayerVersions(w http.ResponseWriter, r *http.Request, _ []byte) error {
	layers, err := s.layerRegistry()
	if err != nil {
		return err
	}
	maxItems, err := layerMaxItems(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	vs, next, err := layers.ListVersions(r.PathValue("layer"), q.Get("CompatibleRuntime"), q.Get("CompatibleArchitecture"),
		q.Get("Marker"), maxItems)
	if err != nil {
		return err
	}
	out := ListLayerVersionsOutput{NextMarker: next, LayerVersions: make([]*control.LayerVersionsListItem, len(vs))}
	for i, v := range vs {
		out.LayerVersions[i] = v.ListItem()
	}
	writeJSON(w, http.StatusOK, &out)
	return nil
}

func (s *Server) deleteLayerVersion(w http.ResponseWriter, r *http.Request, _ []byte) error {
	layers, n, err := s.layerVersion(r)
	if err != nil {
		return err
	}
	if err := layers.Delete(r.Context(), r.PathValue("layer"), n); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// getLayerCode serves a layer archive download whose URL GetLayerVersion signed.
func (s *Server) getLayerCode(w http.ResponseWriter, r *http.Request, _ []byte) error {
	layers, err := s.layerRegistry()
	if err != nil {
		return err
	}
	name, version := r.PathValue("layer"), r.PathValue("version")
	sha, err := s.checkCodeURL(r, "layer/"+name+"/"+version)
	if err != nil {
		return err
	}
	n, err := layerVersionNumber(r)
	if err != nil {
		return err
	}
	v, err := layers.Get(name, n)
	if err != nil {
		return err
	}
	if v.Code.Sha256 != sha {
		return lambdaerr.New(lambdaerr.ResourceNotFound, "The resource you requested does not exist.")
	}
	return s.serveZip(w, r, v.Code)
}
