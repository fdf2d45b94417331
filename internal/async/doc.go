// Package async owns Lambda's asynchronous invocation: the durable event queue (a JetStream
// work-queue stream, one subject and one consumer per function), the pollers that run queued
// events through the synchronous invoke path, retries with back-off, event-invoke
// configurations (MaximumRetryAttempts, MaximumEventAgeInSeconds, DestinationConfig), and the
// delivery of invocation records to destinations and of failed events to dead-letter queues.
//
// It stores only its own records (the queue stream and its buckets) and reaches the rest of
// Ember through small interfaces: it must not parse HTTP (internal/api does), run sandboxes
// (the synchronous path does), or write function records (internal/control does).
//
// The destination sender (Sender) and the invocation record builder (NewRecord) are meant to be
// reused by other callers that need Lambda's failure and success records, such as event source
// mappings.
package async
