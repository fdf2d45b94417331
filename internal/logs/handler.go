package logs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
)

// TargetPrefix is the X-Amz-Target prefix of CloudWatch Logs operations; the API server
// routes requests whose target starts with it to Handler.
const TargetPrefix = "Logs_20140328."

const maxRequestBytes = 1 << 20

// operation decodes a request body, runs it on the store and returns the response value
// (nil for operations whose response is empty).
type operation func(ctx context.Context, s *Store, body []byte) (any, error)

func op[In any, Out any](run func(*Store, context.Context, In) (Out, error)) operation {
	return func(ctx context.Context, s *Store, body []byte) (any, error) {
		var in In
		if err := decodeBody(body, &in); err != nil {
			return nil, err
		}
		return run(s, ctx, in)
	}
}

func emptyOp[In any](run func(*Store, context.Context, In) error) operation {
	return func(ctx context.Context, s *Store, body []byte) (any, error) {
		var in In
		if err := decodeBody(body, &in); err != nil {
			return nil, err
		}
		return nil, run(s, ctx, in)
	}
}

// operations is the route table: one handler per X-Amz-Target operation.
var operations = map[string]operation{
	"DescribeLogGroups":  op((*Store).DescribeLogGroups),
	"DescribeLogStreams": op((*Store).DescribeLogStreams),
	"GetLogEvents":       op((*Store).GetLogEvents),
	"FilterLogEvents":    op((*Store).FilterLogEvents),
	"CreateLogGroup":     emptyOp((*Store).CreateLogGroup),
	"DeleteLogGroup":     emptyOp((*Store).DeleteLogGroup),
}

func decodeBody(body []byte, v any) error {
	if len(strings.TrimSpace(string(body))) == 0 {
		body = []byte("{}")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return &Error{Type: Serialization, Message: "Unable to parse request body: " + err.Error()}
	}
	return nil
}

// Handler serves the CloudWatch Logs JSON 1.1 protocol (POST / with
// X-Amz-Target: Logs_20140328.<Operation>) for the operations Store answers. Errors are
// rendered as CloudWatch does: status 400 and {"__type": ..., "message": ...} for client
// errors, 500 for the rest. It does no authentication: the API server checks SigV4 first.
func Handler(store *Store, logger *slog.Logger) http.Handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reqID := newRequestID()
		w.Header().Set("x-amzn-RequestId", reqID)
		target := r.Header.Get("X-Amz-Target")
		name, ok := strings.CutPrefix(target, TargetPrefix)
		run := operations[name]
		if r.Method != http.MethodPost || !ok || run == nil {
			writeError(w, &Error{Type: UnknownOperation, Message: "Operation " + target + " is not supported."}, logger)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBytes+1))
		if err != nil {
			writeError(w, &Error{Type: Serialization, Message: "Unable to read request body."}, logger)
			return
		}
		if len(body) > maxRequestBytes {
			writeError(w, invalidParam("Request body is larger than %d bytes.", maxRequestBytes), logger)
			return
		}
		out, err := run(r.Context(), store, body)
		if err != nil {
			logger.Debug("logs request failed", "operation", name, "request_id", reqID, "error", err)
			writeError(w, err, logger)
			return
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		if out == nil {
			_, _ = w.Write([]byte("{}"))
			return
		}
		if err := json.NewEncoder(w).Encode(out); err != nil {
			logger.Warn("logs response not written", "operation", name, "request_id", reqID, "error", err)
		}
	})
}

// writeError renders err the way CloudWatch Logs does.
func writeError(w http.ResponseWriter, err error, logger *slog.Logger) {
	var e *Error
	status := http.StatusBadRequest
	if !errors.As(err, &e) {
		logger.Error("logs request failed", "error", err)
		e = &Error{Type: ServiceUnavailable, Message: "The service cannot complete the request."}
		status = http.StatusInternalServerError
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("x-amzn-ErrorType", string(e.Type))
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(struct {
		Type    ErrorType `json:"__type"`
		Message string    `json:"message"`
	}{e.Type, e.Message})
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
