package api

import (
	"github.com/google/uuid"

	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/ember-serverless/ember/internal/control"
	"github.com/ember-serverless/ember/internal/lambdaerr"
)

// errorBody is the JSON body of an error response. Lambda sends Type ("User" or "Service") and
// Message; __type carries the error name for clients that read it from the body.
type errorBody struct {
	Type       string `json:"Type"`
	Message    string `json:"Message"`
	ErrorType  string `json:"__type"`
	Reason     string `json:"Reason,omitempty"`
	RetryAfter string `json:"retryAfterSeconds,omitempty"`
}

// writeError renders err: the one place errors reach the wire. A *lambdaerr.Error in err's chain
// is sent as it is; anything else is a ServiceException that does not reveal err, which is
// logged instead.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, op, reqID string, err error) {
	var foreign *control.ForeignAccountError
	if errors.As(err, &foreign) {
		// AWS words it as the caller's IAM action on the resource, which only the operation
		// knows: its name is the action's (InvokeFunction for Invoke, as IAM names it).
		err = lambdaerr.New(lambdaerr.AccessDenied, "%s", foreign.Message("lambda:"+op))
	}
	le := lambdaerr.As(err)
	status := le.HTTPStatus()
	kind := "User"
	if status >= 500 {
		kind = "Service"
		s.logger.Error("request failed", "op", op, "request_id", reqID, "method", r.Method, "path", r.URL.Path, "err", err)
	} else {
		s.logger.Debug("request rejected", "op", op, "request_id", reqID, "type", string(le.Type), "message", le.Message)
	}
	msg := le.Message
	var typed *lambdaerr.Error
	if !errors.As(err, &typed) {
		// Nothing of err reaches the client; the request id finds it in the log.
		msg = "An internal error occurred. RequestId: " + reqID
	}
	body := errorBody{Type: kind, Message: msg, ErrorType: string(le.Type), Reason: le.Reason}
	h := w.Header()
	if le.RetryAfterSeconds > 0 {
		body.RetryAfter = strconv.Itoa(le.RetryAfterSeconds)
		h.Set("Retry-After", body.RetryAfter)
	}
	h.Set("X-Amzn-Errortype", string(le.Type))
	writeJSON(w, status, body)
}

// writeJSON writes v as the JSON response with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		data = []byte(`{"Type":"Service","Message":"an internal error occurred","__type":"ServiceException"}`)
		status = http.StatusInternalServerError
	}
	h := w.Header()
	h["Content-Type"] = []string{"application/json"}
	h["Content-Length"] = []string{strconv.Itoa(len(data))}
	w.WriteHeader(status)
	_, _ = w.Write(data)
}

// newRequestID is a random (version 4) UUID, as Lambda's request IDs.
func newRequestID() string { return uuid.NewString() }
