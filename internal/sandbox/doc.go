// Package sandbox owns the Backend interface every isolation mode implements and the types a
// worker and a backend exchange. It must not know about functions, the API or the store: a
// backend sees a Spec (command, environment, code directory, limits) and nothing else.
package sandbox
