package api

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ember-serverless/ember/internal/apimodel"
	"github.com/ember-serverless/ember/internal/async"
	"github.com/ember-serverless/ember/internal/lambdaerr"
	"github.com/ember-serverless/ember/internal/limits"
)

// route is one operation of the API.
type route struct {
	pattern string
	op      string
	limit   int64
	// tooLarge is the error for a body over limit.
	tooLarge func(op string) error
	// public routes carry their own authorization (a signed URL) instead of SigV4.
	public bool
	// handle serves the operation; body is the request's full body, already authenticated. An
	// error it returns is rendered by writeError.
	handle func(s *Server, w http.ResponseWriter, r *http.Request, body []byte) error
}

// routeTable is every operation the API serves, with Lambda's REST paths. ServeMux unescapes each
// path segment, so {name} receives "arn:aws:lambda:..." when clients send arn%3Aaws%3A....
var routeTable = []route{
	{pattern: "POST /2015-03-31/functions/{name}/invocations", op: "InvokeFunction", limit: limits.MaxSyncPayload,
		tooLarge: invokeTooLarge, handle: (*Server).invoke},
	{pattern: "POST /2014-11-13/functions/{name}/invoke-async/", op: "InvokeAsync", limit: async.MaxInvokeAsyncPayload,
		tooLarge: invokeAsyncTooLarge, handle: (*Server).invokeAsync},
	{pattern: "POST /2014-11-13/functions/{name}/invoke-async", op: "InvokeAsync", limit: async.MaxInvokeAsyncPayload,
		tooLarge: invokeAsyncTooLarge, handle: (*Server).invokeAsync},
	{pattern: "PUT /2019-09-25/functions/{name}/event-invoke-config", op: "PutFunctionEventInvokeConfig", handle: (*Server).putEventInvokeConfig},
	{pattern: "POST /2019-09-25/functions/{name}/event-invoke-config", op: "UpdateFunctionEventInvokeConfig", handle: (*Server).updateEventInvokeConfig},
	{pattern: "GET /2019-09-25/functions/{name}/event-invoke-config", op: "GetFunctionEventInvokeConfig", handle: (*Server).getEventInvokeConfig},
	{pattern: "DELETE /2019-09-25/functions/{name}/event-invoke-config", op: "DeleteFunctionEventInvokeConfig", handle: (*Server).deleteEventInvokeConfig},
	{pattern: "GET " + QueuePath + "{name}/async-queue", op: "GetFunctionAsyncQueue", handle: (*Server).getAsyncQueue},
	{pattern: "GET /2019-09-25/functions/{name}/event-invoke-config/list", op: "ListFunctionEventInvokeConfigs", handle: (*Server).listEventInvokeConfigs},
	{pattern: "POST /2015-03-31/event-source-mappings/{$}", op: "CreateEventSourceMapping", handle: (*Server).createEventSourceMapping},
	{pattern: "POST /2015-03-31/event-source-mappings", op: "CreateEventSourceMapping", handle: (*Server).createEventSourceMapping},
	{pattern: "GET /2015-03-31/event-source-mappings/{$}", op: "ListEventSourceMappings", handle: (*Server).listEventSourceMappings},
	{pattern: "GET /2015-03-31/event-source-mappings", op: "ListEventSourceMappings", handle: (*Server).listEventSourceMappings},
	{pattern: "GET /2015-03-31/event-source-mappings/{uuid}", op: "GetEventSourceMapping", handle: (*Server).getEventSourceMapping},
	{pattern: "PUT /2015-03-31/event-source-mappings/{uuid}", op: "UpdateEventSourceMapping", handle: (*Server).updateEventSourceMapping},
	{pattern: "DELETE /2015-03-31/event-source-mappings/{uuid}", op: "DeleteEventSourceMapping", handle: (*Server).deleteEventSourceMapping},
	{pattern: "POST /2015-03-31/functions", op: "CreateFunction", limit: limits.MaxCodeRequest,
		tooLarge: codeTooLarge, handle: (*Server).createFunction},
	{pattern: "POST /2015-03-31/functions/{$}", op: "CreateFunction", limit: limits.MaxCodeRequest,
		tooLarge: codeTooLarge, handle: (*Server).createFunction},
	{pattern: "GET /2015-03-31/functions", op: "ListFunctions", handle: (*Server).listFunctions},
	{pattern: "GET /2015-03-31/functions/{$}", op: "ListFunctions", handle: (*Server).listFunctions},
	{pattern: "GET /2015-03-31/functions/{name}", op: "GetFunction", handle: (*Server).getFunction},
	{pattern: "DELETE /2015-03-31/functions/{name}", op: "DeleteFunction", handle: (*Server).deleteFunction},
	{pattern: "GET /2015-03-31/functions/{name}/configuration", op: "GetFunctionConfiguration",
		handle: (*Server).getFunctionConfiguration},
	{pattern: "PUT /2015-03-31/functions/{name}/configuration", op: "UpdateFunctionConfiguration",
		handle: (*Server).updateFunctionConfiguration},
	{pattern: "PUT /2015-03-31/functions/{name}/code", op: "UpdateFunctionCode", limit: limits.MaxCodeRequest,
		tooLarge: codeTooLarge, handle: (*Server).updateFunctionCode},
	{pattern: "POST /2015-03-31/functions/{name}/versions", op: "PublishVersion", handle: (*Server).publishVersion},
	{pattern: "GET /2015-03-31/functions/{name}/versions", op: "ListVersionsByFunction", handle: (*Server).listVersionsByFunction},
	{pattern: "POST /2015-03-31/functions/{name}/aliases", op: "CreateAlias", handle: (*Server).createAlias},
	{pattern: "GET /2015-03-31/functions/{name}/aliases", op: "ListAliases", handle: (*Server).listAliases},
	{pattern: "GET /2015-03-31/functions/{name}/aliases/{alias}", op: "GetAlias", handle: (*Server).getAlias},
	{pattern: "PUT /2015-03-31/functions/{name}/aliases/{alias}", op: "UpdateAlias", handle: (*Server).updateAlias},
	{pattern: "DELETE /2015-03-31/functions/{name}/aliases/{alias}", op: "DeleteAlias", handle: (*Server).deleteAlias},
	{pattern: "POST /2015-03-31/functions/{name}/policy", op: "AddPermission", handle: (*Server).addPermission},
	{pattern: "GET /2015-03-31/functions/{name}/policy", op: "GetPolicy", handle: (*Server).getPolicy},
	{pattern: "DELETE /2015-03-31/functions/{name}/policy/{sid}", op: "RemovePermission", handle: (*Server).removePermission},
	{pattern: "GET /2021-07-20/functions/{name}/runtime-management-config", op: "GetRuntimeManagementConfig", handle: (*Server).getRuntimeManagementConfig},
	{pattern: "PUT /2021-07-20/functions/{name}/runtime-management-config", op: "PutRuntimeManagementConfig", handle: (*Server).putRuntimeManagementConfig},
	{pattern: "PUT /2017-10-31/functions/{name}/concurrency", op: "PutFunctionConcurrency", handle: (*Server).putFunctionConcurrency},
	{pattern: "GET /2019-09-30/functions/{name}/concurrency", op: "GetFunctionConcurrency", handle: (*Server).getFunctionConcurrency},
	{pattern: "DELETE /2017-10-31/functions/{name}/concurrency", op: "DeleteFunctionConcurrency", handle: (*Server).deleteFunctionConcurrency},
	{pattern: "PUT /2019-09-30/functions/{name}/provisioned-concurrency", op: "PutProvisionedConcurrencyConfig", handle: (*Server).putProvisionedConcurrency},
	{pattern: "GET /2019-09-30/functions/{name}/provisioned-concurrency", op: "ListProvisionedConcurrencyConfigs", handle: (*Server).getProvisionedConcurrency}, // and GetProvisionedConcurrencyConfig
	{pattern: "DELETE /2019-09-30/functions/{name}/provisioned-concurrency", op: "DeleteProvisionedConcurrencyConfig", handle: (*Server).deleteProvisionedConcurrency},
	{pattern: "POST /2017-03-31/tags/{arn}", op: "TagResource", handle: (*Server).tagResource},
	{pattern: "DELETE /2017-03-31/tags/{arn}", op: "UntagResource", handle: (*Server).untagResource},
	{pattern: "GET /2017-03-31/tags/{arn}", op: "ListTags", handle: (*Server).listTags},
	{pattern: "GET /2016-08-19/account-settings", op: "GetAccountSettings", handle: (*Server).getAccountSettings},
	{pattern: "GET /2016-08-19/account-settings/{$}", op: "GetAccountSettings", handle: (*Server).getAccountSettings},
	{pattern: "GET " + codePath + "{name}", op: "GetFunctionCode", public: true, handle: (*Server).getCode},
	{pattern: "POST /2018-10-31/layers/{layer}/versions", op: "PublishLayerVersion", limit: limits.MaxCodeRequest,
		tooLarge: codeTooLarge, handle: (*Server).publishLayerVersion},
	{pattern: "GET /2018-10-31/layers/{layer}/versions", op: "ListLayerVersions", handle: (*Server).listLayerVersions},
	{pattern: "GET /2018-10-31/layers/{layer}/versions/{version}", op: "GetLayerVersion", handle: (*Server).getLayerVersion},
	{pattern: "DELETE /2018-10-31/layers/{layer}/versions/{version}", op: "DeleteLayerVersion", handle: (*Server).deleteLayerVersion},
	{pattern: "POST /2018-10-31/layers/{layer}/versions/{version}/policy", op: "AddLayerVersionPermission", handle: (*Server).addLayerVersionPermission},
	{pattern: "GET /2018-10-31/layers/{layer}/versions/{version}/policy", op: "GetLayerVersionPolicy", handle: (*Server).getLayerVersionPolicy},
	{pattern: "DELETE /2018-10-31/layers/{layer}/versions/{version}/policy/{sid}", op: "RemoveLayerVersionPermission", handle: (*Server).removeLayerVersionPermission},
	{pattern: "GET /2018-10-31/layers", op: "ListLayers", handle: (*Server).listLayers}, // and GetLayerVersionByArn
	{pattern: "GET /2018-10-31/layers/{$}", op: "ListLayers", handle: (*Server).listLayers},
	{pattern: "GET " + layerCodePath + "{layer}/{version}", op: "GetLayerCode", public: true, handle: (*Server).getLayerCode},
	{pattern: "/", op: "Unknown", limit: maxLogsRequest, handle: (*Server).fallback},
}

func (s *Server) routes() *http.ServeMux {
	mux := http.NewServeMux()
	for _, rt := range routeTable {
		mux.Handle(rt.pattern, s.wrap(rt))
	}
	return mux
}

// wrap gives an operation what every request gets: a request ID, Lambda's body limit,
// authentication, and the API model's constraints checked (for an op named as in the model)
// before the handler runs.
func (s *Server) wrap(rt route) http.Handler {
	limit := rt.limit
	if limit == 0 {
		limit = maxControlRequest
	}
	tooLarge := rt.tooLarge
	if tooLarge == nil {
		tooLarge = codeTooLarge
	}
	h := rt.handle
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reqID := newRequestID()
		w.Header()["X-Amzn-Requestid"] = []string{reqID}
		err := s.authenticate(w, r, rt, limit, func(body []byte) error {
			// The model's constraints first, as AWS's front end checks them before Lambda.
			if err := apimodel.Validate(rt.op, r, body); err != nil {
				return err
			}
			return h(s, w, r, body)
		})
		if err == errTooLarge {
			err = tooLarge(rt.op)
		}
		if err != nil {
			s.writeError(w, r, rt.op, reqID, err)
		}
	})
}

// authenticate reads r's body and checks its signature, then calls handle with the body. A
// request with a large body (or one of unknown length) is prechecked before its body is read,
// so that an unauthenticated client cannot make the server hold one; the body must arrive
// within its deadline; the bytes of bodies not yet authenticated count against the server's
// budget until the signature is verified.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request, rt route, limit int64, handle func(body []byte) error) error {
	hasBody := r.Body != nil && r.Body != http.NoBody
	if hasBody && !rt.public && (r.ContentLength < 0 || r.ContentLength > precheckAbove) {
		if r.ContentLength > limit {
			s.drainTooLarge(w, r, limit)
			return errTooLarge
		}
		if pc, ok := s.auth.(Prechecker); ok {
			if err := pc.Precheck(r); err != nil {
				return err
			}
		}
	}
	var held int64
	var body []byte
	var err error
	if hasBody {
		rc := http.NewResponseController(w)
		_ = rc.SetReadDeadline(bodyDeadline(time.Now(), r.ContentLength))
		body, err = s.readBody(r, limit, &held)
		_ = rc.SetReadDeadline(time.Time{})
	}
	if err == nil && !rt.public {
		err = s.auth.Authenticate(r, body)
	}
	s.inFlight.Add(-held)
	if err != nil {
		return err
	}
	return handle(body)
}

// drainTooLarge reads and discards the body of a request over its operation's limit, when its
// signature passes the precheck and its length is within a few times the limit, so that a
// client that sends its whole body before it reads (the AWS CLI does) gets the answer rather
// than a connection closed under it. Nothing of the body is held, and its deadline bounds the
// time it takes; other requests over the limit get their answer and the connection is closed.
func (s *Server) drainTooLarge(w http.ResponseWriter, r *http.Request, limit int64) {
	if r.ContentLength > drainFactor*limit {
		return
	}
	if pc, ok := s.auth.(Prechecker); ok && pc.Precheck(r) != nil {
		return
	}
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(bodyDeadline(time.Now(), r.ContentLength))
	_, _ = io.CopyN(io.Discard, r.Body, r.ContentLength)
	_ = rc.SetReadDeadline(time.Time{})
}

// drainFactor bounds the bodies drainTooLarge reads: up to this many times the limit.
const drainFactor = 4

var errTooLarge = lambdaerr.New(lambdaerr.RequestTooLarge, "request too large")

func invokeTooLarge(op string) error {
	return lambdaerr.New(lambdaerr.RequestTooLarge, "Request must be smaller than %d bytes for the %s operation", limits.MaxSyncPayload, op)
}

func codeTooLarge(op string) error {
	return &lambdaerr.Error{Type: "RequestEntityTooLargeException", Status: http.StatusRequestEntityTooLarge,
		Message: "Request must be smaller than " + strconv.Itoa(limits.MaxCodeRequest) + " bytes for the " + op + " operation"}
}

// fallback serves CloudWatch Logs requests when a logs handler is set, and answers every other
// request that matches no route as an unknown operation.
func (s *Server) fallback(w http.ResponseWriter, r *http.Request, body []byte) error {
	if r.Method == http.MethodPost && r.URL.Path == "/" && strings.HasPrefix(r.Header.Get("X-Amz-Target"), "Logs_20140328.") && s.logs != nil {
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		s.logs.ServeHTTP(w, r)
		return nil
	}
	return &lambdaerr.Error{Type: lambdaerr.UnknownOperation, Status: http.StatusNotFound,
		Message: "The requested operation is not supported by this server: " + r.Method + " " + r.URL.Path}
}
