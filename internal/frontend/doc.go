// Package frontend owns the invoke path between the API and the worker manager: it resolves the
// function version an invoke names, admits it under the account's and the function's
// concurrency limits, and hands it to the worker manager. It must not parse HTTP (internal/api
// does) or start sandboxes (internal/worker does).
package frontend
