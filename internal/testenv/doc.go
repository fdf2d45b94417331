// Package testenv holds what every package's tests share about the host they run on and about
// waiting: Need, which turns a missing prerequisite (a tool, root, a device) into a skip with its
// reason on a developer's machine and into a failure under CI, where scripts/setup provides
// everything; and CheckFor, the one way a test polls for a condition instead of sleeping.
//
// It is imported only by tests and by test-support packages (such as sandboxtest); it must not
// import any other package of Ember.
package testenv
