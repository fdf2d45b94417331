// Package logs owns functions' logs after they leave the worker: it batches log events into a
// JetStream stream off the invoke path, and serves them back through a CloudWatch
// Logs-compatible subset of that API (DescribeLogGroups, DescribeLogStreams, GetLogEvents,
// FilterLogEvents, CreateLogGroup, DeleteLogGroup: what `aws logs tail` and the SDKs need).
//
// Events are stored on subjects "<prefix>.<group>.<stream>", both names escaped so that any
// name is one subject token, consecutive events of a stream packed into one message (see
// pack.go); the events' own timestamps travel in the pack and the stream's stored time is the
// ingestion time. Log groups are also recorded in a
// key-value bucket so that a group outlives its events' retention, as in CloudWatch.
//
// Queries read the stream in stored order, so FilterLogEvents returns events in the order
// they were ingested. CloudWatch sorts them by event timestamp, then ingestion. The two orders
// agree where producers write events when they stamp them; an event a producer holds back (the
// worker stores an invocation's START with its first line of output) comes after later-stamped
// events of other streams. A startTime starts reading at that ingestion time less
// StoreConfig.ClockSkew; an endTime stops reading StoreConfig.MaxLag after it: an event
// stored later than MaxLag after its own timestamp is not found by a query with an endTime.
// Each event's id is its stream sequence, stable across calls, which `aws logs tail --follow`
// relies on to show an event once.
//
// The package must not know how logs are produced (that is the worker's job) and does no
// authentication: the API server checks SigV4 before routing a request to Handler.
package logs
