// Package server wires Ember's roles together into the single process `ember server` runs:
// state, code store, registry, frontend, worker manager, workers, logs and the API. It owns the
// order things start and stop in, and nothing else: every role's logic lives in its own package.
package server
