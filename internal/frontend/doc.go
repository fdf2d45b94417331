// Package frontend owns the invoke path between its callers and the worker manager: it
// resolves the function version an invoke names, admits it under the account's concurrency
// limit, and hands it to the worker manager. Frontend.Invoke, taking an *invoke.Request with
// the function name already parsed, is the path's one entry point: the API calls it for an
// Invoke request, and pollers (async, event sources) call it directly, not through HTTP. It
// must not parse HTTP (internal/api does) or start sandboxes (internal/worker does), and it
// speaks only internal/invoke's types to both sides.
package frontend
