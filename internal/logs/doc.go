// Package logs owns functions' logs after they leave the worker: it batches log events into a
// JetStream stream off the invoke path, and serves them back through a CloudWatch
// Logs-compatible subset of that API (DescribeLogGroups, DescribeLogStreams, GetLogEvents,
// FilterLogEvents, CreateLogGroup, DeleteLogGroup: what `aws logs tail` and the SDKs need).
//
// Events are stored packed, many to a JetStream message (see pack.go for the two stored
// formats, which are versioned): since format 2 a message holds the consecutive events of
// many streams of one log group, on the subject "<prefix>.<group>" (the name escaped so that
// any name is one subject token), so that sixteen sandboxes of a function writing at once
// cost one message, not sixteen. Messages of format 1 (one stream each, on
// "<prefix>.<group>.<stream>") are still read. The events' own timestamps travel in the pack
// and the stream's stored time is the ingestion time. The streams of a group, with their first
// and last event times, are listed in each pack's headers, from which the in-memory index is
// built when a store opens (headers only, without the events) and kept up to date. Log
// groups are also recorded in a key-value bucket so that a group outlives its events'
// retention, as in CloudWatch.
//
// Writing never waits on JetStream and never drops an event while the store is open: past
// its memory buffer the store spills to a file on disk and stores it later (see Store and
// spill.go).
//
// Queries read the stream in stored order, so FilterLogEvents returns events in the order
// they were ingested. CloudWatch sorts them by event timestamp, then ingestion. The two orders
// agree where producers write events when they stamp them; an event a producer holds back (the
// worker stores an invocation's START with its first line of output) comes after later-stamped
// events of other streams. A startTime starts reading at that ingestion time less
// StoreConfig.ClockSkew; an endTime stops reading StoreConfig.MaxLag after it: an event
// stored later than MaxLag after its own timestamp is not found by a query with an endTime.
// Each event's id is its position, its message's stream sequence × 4,096 plus its index in
// the pack, stable across calls, which `aws logs tail --follow` relies on to show an event
// once.
//
// The package must not know how logs are produced (that is the worker's job) and does no
// authentication: the API server checks SigV4 before routing a request to Handler.
package logs
