// Package sandbox owns the Backend interface every isolation mode implements and the types a
// worker and a backend exchange. It must not know about functions, the API or the store: a
// backend sees a Spec (command, environment, code directory, limits) and nothing else.
//
// What only some backends do is said by small interfaces declared here, never by a backend's
// name: Dialer (runs Lambda extensions), Snapshotter and Restorer (SnapStart), InitBooster
// (lends a new sandbox CPU for its init), Closer (holds something on the host until closed)
// and Unconfined (runs code outside any sandbox). Each implementation states them with
// compile-time checks.
package sandbox
