// Package rabbitmq is the RabbitMQ source of event source mappings: an AMQP 0-9-1 consumer
// (amqp091-go) of one queue of a virtual host that shapes messages as Lambda's Amazon MQ for
// RabbitMQ event and acknowledges a message only once its batch is done.
//
// It owns the AMQP connection and the event's shape; batching, filtering and retries are
// internal/esm's.
package rabbitmq
