// Package placement chooses the worker a new sandbox goes on. With one host (the default single
// process) that is the local worker; the interface is what a multi-host placement implements.
// It must not track sandboxes (internal/assign does).
package placement

import (
	"context"

	"github.com/ember-serverless/ember/internal/assign"
	"github.com/ember-serverless/ember/internal/invoke"
)

var _ assign.Placement = Local{}

// Local places every sandbox on one host.
type Local struct{ Host assign.Host }

// Place returns the local host.
func (l Local) Place(context.Context, invoke.SandboxSpec) (assign.Host, error) { return l.Host, nil }
