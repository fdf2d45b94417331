// Package logs owns functions' logs after they leave the worker: it batches log events into a
// JetStream stream off the invoke path, and serves them back through a CloudWatch
// Logs-compatible subset of that API (DescribeLogGroups, DescribeLogStreams, GetLogEvents,
// FilterLogEvents, CreateLogGroup, DeleteLogGroup: what `aws logs tail` and the SDKs need).
//
// Events are stored one message per line on subjects "<prefix>.<group>.<stream>", both names
// escaped so that any name is one subject token; the event's own timestamp travels in a
// header and the stream's stored time is the ingestion time. Log groups are also recorded in a
// key-value bucket so that a group outlives its events' retention, as in CloudWatch.
//
// The package must not know how logs are produced (that is the worker's job) and does no
// authentication: the API server checks SigV4 before routing a request to Handler.
package logs
