package api

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/ember-serverless/ember/internal/control"
	"github.com/ember-serverless/ember/internal/lambdaerr"
	"github.com/ember-serverless/ember/internal/limits"
)

// GetFunctionOutput is the body of GetFunction.
type GetFunctionOutput struct {
	Configuration *control.FunctionConfiguration `json:"Configuration"`
	Code          *FunctionCodeLocation          `json:"Code"`
	Tags          map[string]string              `json:"Tags,omitempty"`
	Concurrency   *control.Concurrency           `json:"Concurrency,omitempty"`
}

// FunctionCodeLocation says where a function's package can be downloaded.
type FunctionCodeLocation struct {
	RepositoryType string `json:"RepositoryType"`
	Location       string `json:"Location"`
}

// ListFunctionsOutput is the body of ListFunctions.
type ListFunctionsOutput struct {
	Functions  []*control.FunctionConfiguration `json:"Functions"`
	NextMarker string                           `json:"NextMarker,omitempty"`
}

// AccountSettingsOutput is the body of GetAccountSettings.
type AccountSettingsOutput struct {
	AccountLimit AccountLimit `json:"AccountLimit"`
	AccountUsage AccountUsage `json:"AccountUsage"`
}

// AccountLimit is Lambda's AccountLimit shape.
type AccountLimit struct {
	TotalCodeSize                  int64 `json:"TotalCodeSize"`
	CodeSizeUnzipped               int64 `json:"CodeSizeUnzipped"`
	CodeSizeZipped                 int64 `json:"CodeSizeZipped"`
	ConcurrentExecutions           int   `json:"ConcurrentExecutions"`
	UnreservedConcurrentExecutions int   `json:"UnreservedConcurrentExecutions"`
}

// AccountUsage is Lambda's AccountUsage shape.
type AccountUsage struct {
	TotalCodeSize int64 `json:"TotalCodeSize"`
	FunctionCount int64 `json:"FunctionCount"`
}

// decode parses a JSON request body into v; an empty body is an empty object.
func decode(body []byte, v any) error {
	if len(body) == 0 {
		return nil
	}
	if err := json.Unmarshal(body, v); err != nil {
		return lambdaerr.New(lambdaerr.InvalidRequestContent, "Could not parse request body into json: %s", jsonProblem(err))
	}
	return nil
}

// jsonProblem describes a JSON decoding error without echoing large parts of the input.
func jsonProblem(err error) string {
	switch e := err.(type) {
	case *json.SyntaxError:
		return "Unexpected character at offset " + strconv.FormatInt(e.Offset, 10) + ": " + e.Error()
	case *json.UnmarshalTypeError:
		return "Cannot deserialize value of type " + e.Value + " into field " + e.Field
	default:
		return "invalid JSON"
	}
}

func (s *Server) createFunction(w http.ResponseWriter, r *http.Request, body []byte) error {
	var in control.CreateFunctionInput
	if err := decode(body, &in); err != nil {
		return err
	}
	f, err := s.registry.Create(r.Context(), &in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, &f.Config)
	return nil
}

func (s *Server) getFunction(w http.ResponseWriter, r *http.Request, _ []byte) error {
	f, err := s.registry.Resolve(r.PathValue("name"), r.URL.Query().Get("Qualifier"))
	if err != nil {
		return err
	}
	out := GetFunctionOutput{
		Configuration: &f.Config,
		Code:          &FunctionCodeLocation{RepositoryType: "S3", Location: s.codeURL(r, f)},
		Tags:          f.Tags,
		Concurrency:   s.concurrencyOf(f),
	}
	writeJSON(w, http.StatusOK, &out)
	return nil
}

func (s *Server) getFunctionConfiguration(w http.ResponseWriter, r *http.Request, _ []byte) error {
	f, err := s.registry.Resolve(r.PathValue("name"), r.URL.Query().Get("Qualifier"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, &f.Config)
	return nil
}

func (s *Server) listFunctions(w http.ResponseWriter, r *http.Request, _ []byte) error {
	q := r.URL.Query()
	maxItems := 0
	if v := q.Get("MaxItems"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10000 {
			return lambdaerr.InvalidParameter("1 validation error detected: Value '%s' at 'maxItems' failed to satisfy constraint: "+
				"Member must have value greater than or equal to 1 and less than or equal to 10000", v)
		}
		maxItems = n
	}
	switch v := q.Get("FunctionVersion"); v {
	case "", "ALL":
	default:
		return lambdaerr.InvalidParameter("1 validation error detected: Value '%s' at 'functionVersion' failed to satisfy constraint: "+
			"Member must satisfy enum value set: [ALL]", v)
	}
	if v := q.Get("MasterRegion"); v != "" {
		return lambdaerr.InvalidParameter("MasterRegion is not supported by this server: there are no Lambda@Edge replicas.")
	}
	list := s.registry.List
	if q.Get("FunctionVersion") == "ALL" {
		list = s.registry.ListAllVersions
	}
	fs, next, err := list(q.Get("Marker"), maxItems)
	if err != nil {
		return err
	}
	out := ListFunctionsOutput{Functions: make([]*control.FunctionConfiguration, len(fs)), NextMarker: next}
	for i, f := range fs {
		out.Functions[i] = listed(&f.Config)
	}
	writeJSON(w, http.StatusOK, &out)
	return nil
}

// listed is a function's configuration as ListFunctions returns it: without the state and
// last-update members and RuntimeVersionConfig, which Lambda leaves out of a listing
// (GetFunction and GetFunctionConfiguration carry them).
func listed(c *control.FunctionConfiguration) *control.FunctionConfiguration {
	out := *c
	out.State, out.StateReason, out.StateReasonCode = "", "", ""
	out.LastUpdateStatus, out.LastUpdateStatusReason, out.LastUpdateStatusReasonCode = "", "", ""
	out.RuntimeVersionConfig = nil
	return &out
}

func (s *Server) updateFunctionCode(w http.ResponseWriter, r *http.Request, body []byte) error {
	var in control.UpdateFunctionCodeInput
	if err := decode(body, &in); err != nil {
		return err
	}
	in.FunctionName = r.PathValue("name")
	f, err := s.registry.UpdateCode(r.Context(), &in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, &f.Config)
	return nil
}

func (s *Server) updateFunctionConfiguration(w http.ResponseWriter, r *http.Request, body []byte) error {
	var in control.UpdateFunctionConfigurationInput
	if err := decode(body, &in); err != nil {
		return err
	}
	in.FunctionName = r.PathValue("name")
	f, err := s.registry.UpdateConfiguration(r.Context(), &in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, &f.Config)
	return nil
}

func (s *Server) deleteFunction(w http.ResponseWriter, r *http.Request, _ []byte) error {
	if err := s.registry.Delete(r.Context(), r.PathValue("name"), r.URL.Query().Get("Qualifier")); err != nil {
		return err
	}
	w.Header()["Content-Type"] = []string{"application/json"}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) getAccountSettings(w http.ResponseWriter, _ *http.Request, _ []byte) error {
	count, size := s.registry.Usage()
	out := AccountSettingsOutput{
		AccountLimit: AccountLimit{
			TotalCodeSize:                  limits.TotalCodeSize,
			CodeSizeUnzipped:               limits.MaxUnzippedSize,
			CodeSizeZipped:                 limits.MaxZippedSize,
			ConcurrentExecutions:           s.cfg.ConcurrentExecutions,
			UnreservedConcurrentExecutions: s.cfg.ConcurrentExecutions - s.registry.ReservedTotal(),
		},
		AccountUsage: AccountUsage{TotalCodeSize: size, FunctionCount: count},
	}
	writeJSON(w, http.StatusOK, &out)
	return nil
}
