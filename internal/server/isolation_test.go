package server

import (
	"maps"
	"testing"

	"github.com/ember-serverless/ember/internal/sandbox"
	"github.com/ember-serverless/ember/internal/sandbox/process"
)

// confined stands for any backend that mounts a runtime's client at /var/runtime.
type confined struct{ sandbox.Backend }

func TestWhereSandboxesSeeRuntimeClientsDependsOnWhetherTheBackendConfinesThem(t *testing.T) {
	host := map[string]string{"nodejs22.x": "/data/runtimes/nodejs", "python3.12": "/data/runtimes/python"}
	cases := []struct {
		name       string
		backend    sandbox.Backend
		unconfined bool
		want       map[string]string
	}{
		{"the process backend is unconfined and sees the clients at their host paths", process.New(), true, host},
		{"a confining backend sees every client at /var/runtime", confined{}, false,
			map[string]string{"nodejs22.x": "/var/runtime", "python3.12": "/var/runtime"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := isUnconfined(tc.backend); got != tc.unconfined {
				t.Errorf("isUnconfined = %v, want %v", got, tc.unconfined)
			}
			if got := clientDirs(tc.backend, host); !maps.Equal(got, tc.want) {
				t.Errorf("clientDirs = %v, want %v", got, tc.want)
			}
		})
	}
}
