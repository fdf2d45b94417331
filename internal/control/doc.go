// Package control is the function registry: it validates function configurations with Lambda's
// rules and messages, stores one record per function (its $LATEST configuration, tags and code
// manifest) in a JetStream KV bucket with compare-and-set on every update, and keeps an in-memory
// copy of every record, updated by watching the bucket, so the invoke path can look a function up
// without a store round trip.
//
// It owns the Lambda wire types of a function's configuration (FunctionConfiguration and the
// request shapes of the function operations). It must not know about HTTP (that is internal/api)
// nor how code is chunked and stored (that is internal/codestore, reached through CodeWriter).
package control
