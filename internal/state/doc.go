// Package state owns Ember's connection to NATS JetStream: it starts the embedded server (or
// connects to an external cluster) and hands out the buckets and streams other packages store
// their records in. It knows nothing of functions or invocations: those records belong to the
// packages that write them.
package state
