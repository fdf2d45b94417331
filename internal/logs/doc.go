// Package logs owns functions' logs after they leave the worker: it batches log events into a
// JetStream stream off the invoke path, and serves them back through a CloudWatch
// Logs-compatible subset of that API. It must not know how logs are produced.
package logs
