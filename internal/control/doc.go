// Package control is the function registry: it validates function configurations with Lambda's
// rules and messages, stores one record per function (its $LATEST configuration, tags and code
// manifest) in a JetStream KV bucket with compare-and-set on every update, and keeps an in-memory
// copy of every record, updated by watching the bucket, so the invoke path can look a function up
// without a store round trip. Layers are its second registry (Layers, in a bucket of their
// own): published layer versions, which a function's Layers must name; a function's record keeps
// its layers' archive manifests, so deleting a layer version never breaks a function using it.
//
// A function's stored record is the registry's own type (functionRecord, record.go) with a
// schema version in "v", decoupled from the wire types, so a change of the API's shapes is not a
// data migration; records written before the version existed (schema 0) still load. Files:
// registry.go opens the registry, cache.go keeps the in-memory copy current and publishes
// deletions (OnDelete), functions.go holds the create/update/delete operations and
// transitions.go the Pending/InProgress transitions a change goes through until it is ready.
// versions.go publishes immutable versions (records of their own in a versions bucket, keyed
// NAME.N) and aliases.go keeps aliases (an aliases bucket, NAME.ALIAS) and resolves a qualifier
// to the version an invoke runs (Target; for an alias with routing, Pick).
// resolve.go turns a function's record into the version the invoke path runs (Resolver: the
// sandbox spec, with the runtime's command, the merged environment and the unpacked code and
// layers), once per revision, and unpacks a function's code before it becomes Active
// (PrepareCode).
//
// It owns the Lambda wire types of a function's configuration (FunctionConfiguration and the
// request shapes of the function operations). It must not know about HTTP (that is internal/api)
// nor how code is chunked and stored (that is internal/codestore, reached through CodeWriter and
// Unpacker).
package control
