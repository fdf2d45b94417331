"""Ember's Python runtime client.

It imports the handler named by _HANDLER from LAMBDA_TASK_ROOT and loops on the Lambda Runtime
API (AWS_LAMBDA_RUNTIME_API) as AWS's Python runtime does: Lambda's context object, error
documents with the exception's own type and stack trace, print() written as is, and the logging
module's records in Lambda's text format. It uses only the standard library.
"""

import importlib
import json
import logging
import os
import site
import socket
import sys
import time
import traceback

_request_id = ""


class _Unbuffered:
    """Writes through at once, so the worker sees output before the invocation ends."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, data):
        self._stream.write(data)
        self._stream.flush()

    def writelines(self, lines):
        self._stream.writelines(lines)
        self._stream.flush()

    def __getattr__(self, name):
        return getattr(self._stream, name)


def _write_event(text):
    """Writes one log event: inner line breaks become carriage returns, as Lambda's runtime
    does when it has no telemetry pipe, so a multi-line message stays one event."""
    sys.stdout.write(text.rstrip("\n").replace("\n", "\r") + "\n")


class _RequestIDFilter(logging.Filter):
    def filter(self, record):
        record.aws_request_id = _request_id
        return True


class _LambdaLogHandler(logging.Handler):
    def emit(self, record):
        try:
            _write_event(self.format(record))
        except Exception:  # pragma: no cover - as logging.Handler.handleError
            self.handleError(record)


def _setup_logging():
    logging.Formatter.converter = time.gmtime
    handler = _LambdaLogHandler()
    handler.setFormatter(logging.Formatter(
        "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s",
        "%Y-%m-%dT%H:%M:%S"))
    handler.addFilter(_RequestIDFilter())
    logging.getLogger().addHandler(handler)


# ---- the Runtime API ----

class _RuntimeAPI:
    """A minimal HTTP/1.1 client of the Runtime API over one keep-alive connection. It is
    written on socket rather than http.client, whose imports (email, ssl) would double the
    runtime's start-up time."""

    def __init__(self, address):
        host, _, port = address.rpartition(":")
        self._addr = (host, int(port))
        self._host = address
        self._sock = None
        self._rfile = None

    def _close(self):
        if self._sock is not None:
            try:
                self._rfile.close()
                self._sock.close()
            except OSError:
                pass
        self._sock = self._rfile = None

    def _call(self, method, path, body=b"", headers=None):
        head = "%s /2018-06-01/runtime%s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n" % (
            method, path, self._host, len(body))
        for k, v in (headers or {}).items():
            head += "%s: %s\r\n" % (k, v)
        request = head.encode("latin-1") + b"\r\n" + body
        for attempt in range(2):
            fresh = self._sock is None
            if fresh:
                self._sock = socket.create_connection(self._addr)
                self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self._rfile = self._sock.makefile("rb")
            try:
                self._sock.sendall(request)
                status_line = self._rfile.readline(65537)
                if not status_line:
                    raise ConnectionError("the Runtime API closed the connection")
            except OSError:
                self._close()
                if fresh or attempt:
                    raise
                continue  # a kept-alive connection went stale before anything was answered
            return self._read_response(status_line)
        raise AssertionError("unreachable")

    def _read_response(self, status_line):
        status = int(status_line.split(None, 2)[1])
        headers = {}
        while True:
            line = self._rfile.readline(65537)
            if line in (b"\r\n", b"\n", b""):
                break
            k, _, v = line.decode("latin-1").partition(":")
            headers[k.strip().lower()] = v.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self._rfile.readline(65537).split(b";")[0], 16)
                if size == 0:
                    while self._rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    break
                chunks.append(self._rfile.read(size))
                self._rfile.readline(65537)
            body = b"".join(chunks)
        else:
            n = int(headers.get("content-length", "0"))
            body = self._rfile.read(n) if n else b""
        if headers.get("connection", "").lower() == "close":
            self._close()
        return status, headers, body

    def next(self):
        status, headers, body = self._call("GET", "/invocation/next")
        if status != 200:
            raise RuntimeError("Runtime API /next answered %d: %r" % (status, body))
        return headers, body

    def respond(self, request_id, body):
        self._call("POST", "/invocation/%s/response" % request_id, body,
                   {"Content-Type": "application/json"})

    def error(self, request_id, doc):
        self._post_error("/invocation/%s/error" % request_id, doc)

    def init_error(self, doc):
        self._post_error("/init/error", doc)

    def _post_error(self, path, doc):
        body = json.dumps(doc).encode()
        self._call("POST", path, body, {"Content-Type": "application/json",
                                        "Lambda-Runtime-Function-Error-Type": doc["errorType"]})


# ---- errors ----

class _FaultError(Exception):
    """A failure the runtime itself names, e.g. Runtime.ImportModuleError."""

    def __init__(self, error_type, message, trace=None):
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.trace = trace or []


def _user_frames(tb):
    frames = traceback.extract_tb(tb)
    me = os.path.abspath(__file__)
    return [f for f in frames if os.path.abspath(f.filename) != me]


def _error_doc(exc, request_id):
    if isinstance(exc, _FaultError):
        return {"errorMessage": exc.message, "errorType": exc.error_type,
                "requestId": request_id, "stackTrace": exc.trace}
    return {"errorMessage": str(exc), "errorType": type(exc).__name__,
            "requestId": request_id,
            "stackTrace": traceback.format_list(_user_frames(exc.__traceback__))}


def _log_error(doc):
    lines = ["[ERROR] %s: %s" % (doc["errorType"], doc["errorMessage"])]
    if doc["stackTrace"]:
        lines.append("Traceback (most recent call last):")
        lines.extend(line.rstrip("\n") for line in doc["stackTrace"])
    _write_event("\n".join(lines))


# ---- loading the handler ----

def _load_handler(handler):
    try:
        modname, fname = handler.rsplit(".", 1)
    except ValueError as e:
        raise _FaultError("Runtime.MalformedHandlerName", "Bad handler '%s': %s" % (handler, e))
    if modname.split("/")[0] == "..":
        raise _FaultError("Runtime.MalformedHandlerName",
                          "'%s' is not a valid handler name. Use absolute paths when specifying "
                          "root directories in handler names." % handler)
    modname = modname.replace("/", ".")
    if modname.split(".")[0] in sys.builtin_module_names:
        raise _FaultError("Runtime.BuiltInModuleConflict",
                          "Cannot use built-in module %s as a handler module" % modname)
    try:
        mod = importlib.import_module(modname)
    except ImportError as e:
        raise _FaultError("Runtime.ImportModuleError",
                          "Unable to import module '%s': %s" % (modname, e))
    except SyntaxError as e:
        trace = ['  File "%s" Line %s\n        %s\n' % (e.filename, e.lineno, (e.text or "").strip())]
        raise _FaultError("Runtime.UserCodeSyntaxError",
                          "Syntax error in module '%s': %s" % (modname, e), trace)
    fn = getattr(mod, fname, None)
    if fn is None:
        # As AWS's runtime: init succeeds, and every invoke fails with the fault.
        fault = _FaultError("Runtime.HandlerNotFound", "Handler '%s' missing on module '%s'" % (fname, modname))

        def missing(event, context):
            raise fault
        return missing
    return fn


# ---- the context object ----

class CognitoIdentity:
    __slots__ = ["cognito_identity_id", "cognito_identity_pool_id"]

    def __repr__(self):
        return "CognitoIdentity([cognito_identity_id=%s,cognito_identity_pool_id=%s])" % (
            self.cognito_identity_id, self.cognito_identity_pool_id)


class Client:
    __slots__ = ["installation_id", "app_title", "app_version_name", "app_version_code", "app_package_name"]


class ClientContext:
    __slots__ = ["custom", "env", "client"]


class LambdaContext:
    """The context argument of a handler, with the fields AWS's runtime gives it."""

    def __init__(self, request_id, deadline_ms, invoked_function_arn, client_context, identity):
        self.aws_request_id = request_id
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.invoked_function_arn = invoked_function_arn
        self._deadline_ms = deadline_ms

        self.identity = CognitoIdentity()
        self.identity.cognito_identity_id = (identity or {}).get("cognitoIdentityId")
        self.identity.cognito_identity_pool_id = (identity or {}).get("cognitoIdentityPoolId")

        self.client_context = None
        if client_context is not None:
            cc = ClientContext()
            cc.custom = client_context.get("custom")
            cc.env = client_context.get("env")
            cc.client = None
            if client_context.get("client") is not None:
                c, src = Client(), client_context["client"]
                c.installation_id = src.get("installation_id")
                c.app_title = src.get("app_title")
                c.app_version_name = src.get("app_version_name")
                c.app_version_code = src.get("app_version_code")
                c.app_package_name = src.get("app_package_name")
                cc.client = c
            self.client_context = cc

    def get_remaining_time_in_millis(self):
        return int(max(self._deadline_ms - int(round(time.time() * 1000)), 0))

    def __repr__(self):
        return ("LambdaContext([aws_request_id=%s,log_group_name=%s,log_stream_name=%s,function_name=%s,"
                "memory_limit_in_mb=%s,function_version=%s,invoked_function_arn=%s,client_context=%s,identity=%s])" % (
                    self.aws_request_id, self.log_group_name, self.log_stream_name, self.function_name,
                    self.memory_limit_in_mb, self.function_version, self.invoked_function_arn,
                    self.client_context, self.identity))


def _json_header(value):
    if not value:
        return None
    try:
        return json.loads(value)
    except ValueError:
        return None


def _default(o):
    decimal = sys.modules.get("decimal")  # only a function that made a Decimal can return one
    if decimal is not None and isinstance(o, decimal.Decimal):
        return int(o) if o == o.to_integral_value() else float(o)
    raise TypeError("Object of type %s is not JSON serializable" % type(o).__name__)


# ---- the loop ----

def _setup_path(task_root):
    version = "python%d.%d" % sys.version_info[:2]
    for d in reversed([task_root, "/opt/python/lib/%s/site-packages" % version, "/opt/python"]):
        if d in sys.path:
            sys.path.remove(d)
        sys.path.insert(0, d)
    for d in ["/opt/python/lib/%s/site-packages" % version, "/opt/python"]:
        if os.path.isdir(d):
            site.addsitedir(d)  # .pth files, as a site directory


def _invoke(api, handler, headers, body):
    global _request_id
    request_id = headers.get("lambda-runtime-aws-request-id", "")
    _request_id = request_id
    trace_id = headers.get("lambda-runtime-trace-id")
    if trace_id:
        os.environ["_X_AMZN_TRACE_ID"] = trace_id
    else:
        os.environ.pop("_X_AMZN_TRACE_ID", None)
    try:
        try:
            event = json.loads(body) if body else None
        except ValueError as e:
            raise _FaultError("Runtime.UnmarshalError", "Unable to unmarshal input: %s" % e)
        context = LambdaContext(request_id, int(headers.get("lambda-runtime-deadline-ms", "0")),
                                headers.get("lambda-runtime-invoked-function-arn"),
                                _json_header(headers.get("lambda-runtime-client-context")),
                                _json_header(headers.get("lambda-runtime-cognito-identity")))
        result = handler(event, context)
        try:
            out = json.dumps(result, default=_default).encode()
        except (TypeError, ValueError) as e:
            raise _FaultError("Runtime.MarshalError", "Unable to marshal response: %s" % e)
    except Exception as e:
        doc = _error_doc(e, request_id)
        _log_error(doc)
        api.error(request_id, doc)
        return
    api.respond(request_id, out)


def main():
    sys.stdout = _Unbuffered(sys.stdout)
    sys.stderr = _Unbuffered(sys.stderr)
    _setup_logging()
    api = _RuntimeAPI(os.environ.get("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001"))
    task_root = os.environ.get("LAMBDA_TASK_ROOT", os.getcwd())
    _setup_path(task_root)
    try:
        handler = _load_handler(os.environ.get("_HANDLER", ""))
    except Exception as e:
        doc = _error_doc(e, "")
        if not isinstance(e, _FaultError):
            doc["stackTrace"] = traceback.format_list(_user_frames(e.__traceback__))
        _log_error(doc)
        api.init_error(doc)
        # The worker ends the sandbox; wait for it, so the init error is what it sees.
        while True:
            time.sleep(3600)
    while True:
        headers, body = api.next()
        _invoke(api, handler, headers, body)


if __name__ == "__main__":
    main()
