package api

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/ember-serverless/ember/internal/control"
	"github.com/ember-serverless/ember/internal/invoke"
	"github.com/ember-serverless/ember/internal/lambdaerr"
)

// maxClientContext is Lambda's limit on the X-Amz-Client-Context header.
const maxClientContext = 3583

// decodeInvoke turns an Invoke request's path value, query, headers and body into a
// invoke.Request, checking them as Lambda does: the function name is parsed here, once, and
// the invocation type and log type are checked here, once. It is on the invoke hot path: it does not
// allocate beyond the Request unless the request carries a query or a client context.
func (s *Server) decodeInvoke(name, rawQuery string, h http.Header, body []byte) (*invoke.Request, error) {
	function, fromName, err := s.names.ParseFunctionName(name, control.MaxNamespacedFunctionNameLen)
	if err != nil {
		return nil, err
	}
	fromQuery := ""
	if rawQuery != "" {
		q, err := url.ParseQuery(rawQuery)
		if err != nil {
			return nil, lambdaerr.InvalidParameter("The query string could not be parsed.")
		}
		fromQuery = q.Get("Qualifier")
	}
	qualifier, err := control.ResolveQualifier(fromName, fromQuery)
	if err != nil {
		return nil, err
	}
	req := &invoke.Request{Function: function, Qualifier: qualifier, Type: invoke.RequestResponse, Payload: body}
	if v := headerValue(h, "X-Amz-Invocation-Type"); v != "" {
		if req.Type, err = invoke.ParseType(v); err != nil {
			return nil, err
		}
	}
	if v := headerValue(h, "X-Amz-Log-Type"); v != "" {
		switch v {
		case "None":
		case "Tail":
			req.Tail = true
		default:
			return nil, lambdaerr.New(lambdaerr.Validation, "1 validation error detected: Value '%s' at 'logType' failed to satisfy constraint: "+
				"Member must satisfy enum value set: [None, Tail]", v)
		}
	}
	if v := headerValue(h, "X-Amz-Client-Context"); v != "" {
		if len(v) > maxClientContext {
			return nil, lambdaerr.New(lambdaerr.InvalidRequestContent, "Client context must be smaller than %d bytes.", maxClientContext)
		}
		raw, err := base64.StdEncoding.DecodeString(v)
		if err != nil || !isJSONObject(raw) {
			return nil, lambdaerr.New(lambdaerr.InvalidRequestContent, "Client context must be a valid Base64-encoded JSON object.")
		}
		req.ClientContext = v
	}
	if len(body) > 0 && !json.Valid(body) {
		var probe json.RawMessage
		err := json.Unmarshal(body, &probe)
		msg := "invalid JSON"
		if err != nil {
			msg = jsonProblem(err)
		}
		return nil, lambdaerr.New(lambdaerr.InvalidRequestContent, "Could not parse request body into json: Could not parse payload into json: %s", msg)
	}
	return req, nil
}

// invokeNotFound is err, except that an invoke of a function that does not exist, named without
// a qualifier, names the version it would have run, as Lambda's message does
// ("Function not found: arn:aws:lambda:REGION:ACCOUNT:function:NAME:$LATEST").
func (s *Server) invokeNotFound(req *invoke.Request, err error) error {
	if err == nil || req.Qualifier != "" || !errors.Is(err, control.ErrNotFound) {
		return err
	}
	return fmt.Errorf("%w: %w", lambdaerr.NotFound("Function", s.names.ARN(req.Function)+":"+control.LatestVersion), control.ErrNotFound)
}

func isJSONObject(b []byte) bool {
	var m map[string]json.RawMessage
	return json.Unmarshal(b, &m) == nil && m != nil
}

// headerValue is the first value of a header given in canonical form, without the allocation
// http.Header.Get may make.
func headerValue(h http.Header, canonical string) string {
	if v := h[canonical]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func (s *Server) invoke(w http.ResponseWriter, r *http.Request, body []byte) error {
	req, err := s.decodeInvoke(r.PathValue("name"), r.URL.RawQuery, r.Header, body)
	if err != nil {
		return err
	}
	// The invocation's request ID is the one this response already carries (set by wrap).
	if id := w.Header()["X-Amzn-Requestid"]; len(id) > 0 {
		req.RequestID = id[0]
	}
	if req.Type == invoke.Event && s.async != nil {
		return s.invokeNotFound(req, s.enqueue(w, req, nil))
	}
	resp, err := s.invoker.Invoke(r.Context(), req)
	if err != nil {
		return s.invokeNotFound(req, err)
	}
	status := resp.StatusCode
	if status == 0 {
		status = http.StatusOK
	}
	h := w.Header()
	h["Content-Type"] = []string{"application/json"}
	if resp.RequestID != "" {
		h["X-Amzn-Requestid"] = []string{resp.RequestID}
	}
	if resp.FunctionError != "" {
		h["X-Amz-Function-Error"] = []string{string(resp.FunctionError)}
	}
	if resp.LogResult != "" {
		h["X-Amz-Log-Result"] = []string{resp.LogResult}
	}
	if resp.ExecutedVersion != "" {
		h["X-Amz-Executed-Version"] = []string{resp.ExecutedVersion}
	}
	if status != http.StatusNoContent {
		h["Content-Length"] = []string{strconv.Itoa(len(resp.Payload))}
	}
	w.WriteHeader(status)
	if len(resp.Payload) > 0 && status != http.StatusNoContent {
		_, _ = w.Write(resp.Payload)
	}
	if resp.Finish != nil {
		// The invocation's last log lines are written once the caller has its answer.
		_ = http.NewResponseController(w).Flush()
		resp.Finish()
	}
	return nil
}
