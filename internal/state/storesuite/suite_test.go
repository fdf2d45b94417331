package storesuite_test

import (
	"testing"

	"github.com/ember-serverless/ember/internal/state/statetest"
	"github.com/ember-serverless/ember/internal/state/storesuite"
)

func TestTheStoresConformOnTheEmbeddedServer(t *testing.T) {
	storesuite.Run(t, func(t *testing.T) storesuite.Target {
		return storesuite.Target{State: statetest.New(t), Replicas: 1}
	})
}

func TestTheStoresConformOnAThreeNodeCluster(t *testing.T) {
	storesuite.Run(t, func(t *testing.T) storesuite.Target {
		c := statetest.NewCluster(t, 3)
		return storesuite.Target{State: c.Open(t), Replicas: 3, StopNode: c.Stop}
	})
}
