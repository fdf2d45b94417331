package state_test

import (
	"context"
	"testing"

	"github.com/ember-serverless/ember/internal/state"
	"github.com/ember-serverless/ember/internal/state/statetest"
	"github.com/nats-io/nats.go/jetstream"
)

func TestEmbeddedServerKeepsKeyValuesAcrossRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st := statetest.NewIn(t, dir)
	kv, err := st.JetStream().CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	st.Close()

	st2 := statetest.NewIn(t, dir)
	kv2, err := st2.JetStream().KeyValue(ctx, "t")
	if err != nil {
		t.Fatal(err)
	}
	e, err := kv2.Get(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	if string(e.Value()) != "v" {
		t.Fatalf("after restart got %q, want %q", e.Value(), "v")
	}
}

func TestConfigValidateRefusesReplicasTheStoreCannotHave(t *testing.T) {
	tests := []struct {
		name string
		cfg  state.Config
		ok   bool
	}{
		{"the embedded server with replicas left to choose is fine", state.Config{DataDir: "d"}, true},
		{"the embedded server with one replica is fine", state.Config{DataDir: "d", Replicas: 1}, true},
		{"the embedded server cannot hold three replicas", state.Config{DataDir: "d", Replicas: 3}, false},
		{"an external cluster can hold three replicas", state.Config{URL: "nats://a:4222", Replicas: 3}, true},
		{"no stream has more than five replicas", state.Config{URL: "nats://a:4222", Replicas: 6}, false},
		{"replicas are not negative", state.Config{URL: "nats://a:4222", Replicas: -1}, false},
		{"a data dir or a URL is needed", state.Config{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.cfg.Validate(); (err == nil) != tt.ok {
				t.Errorf("Validate() = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}
