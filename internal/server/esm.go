package server

import (
	"github.com/ember-serverless/ember/internal/control"
	"github.com/ember-serverless/ember/internal/esm"
	"github.com/ember-serverless/ember/internal/esm/kafka"
	"github.com/ember-serverless/ember/internal/esm/rabbitmq"
)

// esmFunctions is what event source mappings need of the function registry.
type esmFunctions struct{ r *control.Registry }

var _ esm.Functions = esmFunctions{}

// Exists answers the registry's ResourceNotFoundException for a function or qualifier that
// does not exist.
func (e esmFunctions) Exists(name, qualifier string) error {
	_, err := e.r.Resolve(name, qualifier)
	return err
}

// esmSources are the sources beside JetStream that mappings can read.
func esmSources() map[esm.Kind]esm.SourceFactory {
	return map[esm.Kind]esm.SourceFactory{esm.KindKafka: kafka.Open, esm.KindRabbitMQ: rabbitmq.Open}
}
