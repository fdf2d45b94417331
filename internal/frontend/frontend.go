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
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/ember-serverless/ember/internal/invoke"
	"github.com/ember-serverless/ember/internal/lambdaerr"
	"github.com/ember-serverless/ember/internal/limits"
	"github.com/ember-serverless/ember/internal/runtimes"
)

// Resolver finds the function version an invoke names. Errors are *lambdaerr.Error values
// (ResourceNotFoundException for a missing function, and so on). It is called on every invoke,
// so it must answer from memory.
type Resolver interface {
	Resolve(ctx context.Context, function, qualifier string) (*invoke.Version, error)
}

// Assigner runs an invocation in a sandbox of a version.
type Assigner interface {
	Invoke(ctx context.Context, key string, spec invoke.SandboxSpec, inv *invoke.Invocation) (*invoke.Result, error)
}

// Config is what a Frontend needs.
type Config struct {
	Resolver Resolver
	Assigner Assigner
	// Limits holds the functions' reserved concurrency; without it nothing is reserved.
	Limits Limits
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
	// unreserved counts the running invocations of functions without a reservation.
	unreserved atomic.Int64
	fns        sync.Map // function name → *counters

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

var _ invoke.Invoker = (*Frontend)(nil)

// New returns a frontend.
func New(cfg Config) (*Frontend, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.ConcurrencyLimit == 0 {
		cfg.ConcurrencyLimit = limits.ConcurrentExecutions
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Limits == nil {
		cfg.Limits = noLimits{}
	}
	return &Frontend{cfg: cfg, logger: cfg.Logger}, nil
}

// InFlight is how many invocations are running now.
func (f *Frontend) InFlight() int64 { return f.inflight.Load() }

// ConcurrencyLimit is the account's limit on concurrent invocations.
func (f *Frontend) ConcurrencyLimit() int { return f.cfg.ConcurrencyLimit }

// Invoke resolves, admits and runs one invocation. It is the invoke path's entry point for
// every caller: the API with a decoded Invoke call, and pollers with events of their own.
func (f *Frontend) Invoke(ctx context.Context, req *invoke.Request) (*invoke.Response, error) {
	id := req.RequestID
	if id == "" {
		id = uuid.NewString()
	}
	v, err := f.cfg.Resolver.Resolve(ctx, req.Function, req.Qualifier)
	var ee *runtimes.EntrypointError
	if errors.As(err, &ee) {
		if req.Type == invoke.DryRun {
			return &invoke.Response{StatusCode: http.StatusNoContent, ExecutedVersion: invoke.LatestVersion}, nil
		}
		res := invalidEntrypoint(id, ee)
		return &invoke.Response{StatusCode: http.StatusOK, Payload: res.Payload, FunctionError: res.FunctionError,
			RequestID: id, ExecutedVersion: invoke.LatestVersion}, nil
	}
	if err != nil {
		return nil, err
	}
	switch req.Type {
	case invoke.DryRun:
		return &invoke.Response{StatusCode: http.StatusNoContent, ExecutedVersion: v.Version}, nil
	case invoke.Event:
		return nil, lambdaerr.InvalidParameter("InvocationType Event (asynchronous invocation) is not supported by this server yet; use RequestResponse")
	}
	adm, err := f.admit(req.Function)
	if err != nil {
		return nil, err
	}
	defer adm.release()

	payload := req.Payload
	if len(payload) == 0 {
		payload = emptyEvent // Lambda hands a runtime {} when the caller sent nothing
	}
	inv := &invoke.Invocation{
		RequestID:          id,
		InvokedFunctionARN: invokedARN(v.Sandbox.FunctionARN, req.Qualifier),
		Payload:            payload,
		ClientContext:      req.ClientContext,
		TraceID:            traceID(),
		Tail:               req.Tail,
	}
	res, err := f.cfg.Assigner.Invoke(ctx, v.Key, v.Sandbox, inv)
	if err != nil {
		if errors.As(err, &ee) {
			res = invalidEntrypoint(inv.RequestID, ee)
		} else {
			var le *lambdaerr.Error
			throttled := errors.As(err, &le) && le.Type == lambdaerr.TooManyRequests
			if ctx.Err() == nil && !throttled {
				f.logger.Error("invoke failed", "function", v.Sandbox.FunctionName, "request_id", inv.RequestID, "err", err)
			}
			if le != nil {
				if throttled {
					// Placement found no room for a new sandbox: a throttle like the others.
					f.throttles.Add(1)
					adm.c.throttled(le.Reason)
				}
				return nil, le
			}
			// err names sandboxes, paths and the like: it is logged above, never sent.
			return nil, internalError(inv.RequestID)
		}
	}
	f.invocations.Add(1)
	adm.c.invocations.Add(1)
	if res.FunctionError != "" {
		f.functionErrors.Add(1)
		adm.c.errors.Add(1)
	}
	resp := &invoke.Response{
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

// invalidEntrypoint is the result of an invocation of a version with nothing to run: a
// function error, as Lambda reports it, not an API error.
func invalidEntrypoint(requestID string, ee *runtimes.EntrypointError) *invoke.Result {
	return &invoke.Result{FunctionError: invoke.FunctionErrorUnhandled, ErrorType: invoke.RuntimeInvalidEntrypoint,
		Payload: invoke.ErrorDocument(invoke.RuntimeInvalidEntrypoint, "RequestId: "+requestID+" Error: "+ee.Message)}
}

// traceID is an X-Ray trace header for an invocation that was not traced by its caller.
func traceID() string {
	var b [12]byte
	rand.Read(b[:])
	return "Root=1-" + strconv.FormatInt(time.Now().Unix(), 16) + "-" + hex.EncodeToString(b[:]) + ";Sampled=0"
}

// invokedARN is the ARN a caller invoked, as Lambda tells the runtime: the function's
// unqualified ARN when it named no qualifier, else that ARN with the version or alias it named
// (not the version an alias resolved to). functionARN is the running version's ARN.
func invokedARN(functionARN, qualifier string) string {
	// arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]
	parts := strings.SplitN(functionARN, ":", 8)
	if len(parts) < 7 {
		return functionARN
	}
	base := strings.Join(parts[:7], ":")
	if qualifier == "" {
		return base
	}
	return base + ":" + qualifier
}
