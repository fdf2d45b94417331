package state_test

import (
	"context"
	"testing"

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
