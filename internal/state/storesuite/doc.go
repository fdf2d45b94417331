// Package storesuite is the conformance suite of Ember's state-backed stores: the function
// registry, the code chunk store, the log store and the KV watch they build on, run against any
// state.State (the embedded server, or an external cluster, where it also checks that every
// bucket and stream is replicated as configured and that losing a node loses nothing). It is
// test support: it imports the stores, and nothing but tests may import it.
package storesuite
