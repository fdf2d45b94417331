package frontend

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/ember-serverless/ember/internal/lambdaerr"
	"github.com/ember-serverless/ember/internal/runtimes"
	"github.com/ember-serverless/ember/internal/worker"
)

// Version is one function version as the invoke path needs it.
type Version struct {
	// Key identifies the code and configuration; sandboxes are reused only for the same key.
	Key string
	// Version is what X-Amz-Executed-Version reports.
	Version string
	// Sandbox is what a new sandbox for it is made from.
	Sandbox worker.SandboxConfig
}

// Resolver finds the function version an invoke names. Errors are *lambdaerr.Error values
// (ResourceNotFoundException for a missing function, and so on). It is called on every invoke,
// so it must answer from memory.
type Resolver interface {
	Resolve(ctx context.Context, function, qualifier string) (*Version, error)
}

// Assigner runs an invocation in a sandbox of a version.
type Assigner interface {
	Invoke(ctx context.Context, key string, cfg worker.SandboxConfig, inv *worker.Invocation) (*worker.Result, error)
}

// DefaultConcurrencyLimit is the account's concurrent executions, as Lambda's default quota.
const DefaultConcurrencyLimit = 1000

// Config is what a Frontend needs.
type Config struct {
	Resolver Resolver
	Assigner Assigner
	// ConcurrencyLimit bounds the invocations running at once across the account.
	ConcurrencyLimit int
	Logger           *slog.Logger
}

// Validate reports what is missing.
func (c *Config) Validate() error {
	if c.Resolver == nil || c.Assigner == nil {
		return errors.New("frontend: a resolver and an assigner are required")
	}
	if c.ConcurrencyLimit < 0 {
		return fmt.Errorf("frontend: concurrency limit %d must not be negative", c.ConcurrencyLimit)
	}
	return nil
}

// Frontend admits invokes and runs them synchronously.
type Frontend struct {
	cfg      Config
	logger   *slog.Logger
	inflight atomic.Int64

	invocations, functionErrors, throttles atomic.Int64
}

var emptyEvent = []byte("{}")

// Stats are the frontend's running totals.
type Stats struct {
	Invocations, FunctionErrors, Throttles int64
}

// Stats reports the totals since start.
func (f *Frontend) Stats() Stats {
	return Stats{Invocations: f.invocations.Load(), FunctionErrors: f.functionErrors.Load(), Throttles: f.throttles.Load()}
}

var _ Invoker = (*Frontend)(nil)

// New returns a frontend.
func New(cfg Config) (*Frontend, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.ConcurrencyLimit == 0 {
		cfg.ConcurrencyLimit = DefaultConcurrencyLimit
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Frontend{cfg: cfg, logger: cfg.Logger}, nil
}

// InFlight is how many invocations are running now.
func (f *Frontend) InFlight() int64 { return f.inflight.Load() }

// ConcurrencyLimit is the account's limit on concurrent invocations.
func (f *Frontend) ConcurrencyLimit() int { return f.cfg.ConcurrencyLimit }

// Invoke resolves, admits and runs one invocation.
func (f *Frontend) Invoke(ctx context.Context, req *Request) (*Response, error) {
	id := req.RequestID
	if id == "" {
		id = uuid.NewString()
	}
	v, err := f.cfg.Resolver.Resolve(ctx, req.FunctionName, req.Qualifier)
	var ee *runtimes.EntrypointError
	if errors.As(err, &ee) && req.InvocationType != DryRun {
		return &Response{StatusCode: http.StatusOK, FunctionError: "Unhandled", RequestID: id, ExecutedVersion: "$LATEST",
			Payload: worker.ErrorDoc(runtimes.ErrorTypeInvalidEntrypoint, "RequestId: "+id+" Error: "+ee.Message)}, nil
	} else if ee != nil {
		return &Response{StatusCode: http.StatusNoContent, ExecutedVersion: "$LATEST"}, nil
	}
	if err != nil {
		return nil, err
	}
	switch req.InvocationType {
	case "", RequestResponse:
	case DryRun:
		return &Response{StatusCode: http.StatusNoContent, ExecutedVersion: v.Version}, nil
	case Event:
		return nil, lambdaerr.InvalidParameter("InvocationType Event (asynchronous invocation) is not supported by this server yet; use RequestResponse")
	default:
		return nil, lambdaerr.InvalidParameter("1 validation error detected: Value '%s' at 'invocationType' failed to satisfy constraint: Member must satisfy enum value set: [Event, RequestResponse, DryRun]", req.InvocationType)
	}
	if n := f.inflight.Add(1); n > int64(f.cfg.ConcurrencyLimit) {
		f.inflight.Add(-1)
		f.throttles.Add(1)
		return nil, &lambdaerr.Error{Type: lambdaerr.TooManyRequests, Message: "Rate Exceeded.",
			Reason: "ConcurrentInvocationLimitExceeded", RetryAfterSeconds: 1}
	}
	defer f.inflight.Add(-1)

	payload := req.Payload
	if len(payload) == 0 {
		payload = emptyEvent // Lambda hands a runtime {} when the caller sent nothing
	}
	inv := &worker.Invocation{
		RequestID:     id,
		Payload:       payload,
		ClientContext: req.ClientContext,
		TraceID:       traceID(),
		Tail:          req.LogType == "Tail",
	}
	res, err := f.cfg.Assigner.Invoke(ctx, v.Key, v.Sandbox, inv)
	if err != nil {
		if errors.As(err, &ee) {
			res = &worker.Result{FunctionError: "Unhandled", ErrorType: runtimes.ErrorTypeInvalidEntrypoint,
				Payload: worker.ErrorDoc(runtimes.ErrorTypeInvalidEntrypoint, "RequestId: "+inv.RequestID+" Error: "+ee.Message)}
		} else {
			if ctx.Err() == nil {
				f.logger.Error("invoke failed", "function", v.Sandbox.FunctionName, "request_id", inv.RequestID, "err", err)
			}
			var le *lambdaerr.Error
			if errors.As(err, &le) {
				return nil, le
			}
			// err names sandboxes, paths and the like: it is logged above, never sent.
			return nil, internalError(inv.RequestID)
		}
	}
	f.invocations.Add(1)
	if res.FunctionError != "" {
		f.functionErrors.Add(1)
	}
	resp := &Response{
		StatusCode:      http.StatusOK,
		Payload:         res.Payload,
		FunctionError:   res.FunctionError,
		ExecutedVersion: v.Version,
		RequestID:       inv.RequestID,
		Finish:          res.Finish,
	}
	if inv.Tail {
		resp.LogResult = base64.StdEncoding.EncodeToString(res.Log)
	}
	return resp, nil
}

// internalError is the ServiceException a caller gets when an invocation fails inside the
// server: it says nothing of the server's internals, only the request id the log lines carry.
func internalError(requestID string) *lambdaerr.Error {
	return lambdaerr.New(lambdaerr.ServiceException,
		"An internal error occurred while running the invocation. RequestId: %s", requestID)
}

// traceID is an X-Ray trace header for an invocation that was not traced by its caller.
func traceID() string {
	var b [12]byte
	rand.Read(b[:])
	return "Root=1-" + strconv.FormatInt(time.Now().Unix(), 16) + "-" + hex.EncodeToString(b[:]) + ";Sampled=0"
}
