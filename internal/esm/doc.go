// Package esm owns event source mappings: their records in the state store (the
// event-source-mappings bucket), Lambda's API semantics for them (validation, states, UUIDs),
// and the pollers that read a source, filter and batch its records, invoke the function
// through the synchronous path, retry, bisect, honour partial batch failures, send failed
// batches to their OnFailure destination, and acknowledge records only once they are done.
//
// Sources implement the Source interface: JetStream streams here, Kafka and RabbitMQ in
// packages of their own beneath. The package must not touch the invoke path's internals (it
// speaks invoke.Invoker) nor render wire errors (it returns *lambdaerr.Error values that
// internal/api renders).
package esm
