package control_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"reflect"
	"testing"

	"github.com/ember-serverless/ember/internal/control"
	"github.com/ember-serverless/ember/internal/state/statetest"
)

// v0Fixture is a function record exactly as the registry stored it before records had a schema
// version: the Function type marshalled whole, the API's FunctionConfiguration under "config".
const v0Fixture = "testdata/function-record-v0.json"

type v0Record struct {
	Config    json.RawMessage   `json:"config"`
	Code      control.Code      `json:"code"`
	LayerCode []control.Code    `json:"layerCode"`
	Tags      map[string]string `json:"tags"`
}

func jsonValue(t *testing.T, data []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestARecordWrittenBeforeSchemaVersionsLoadsAsItWasAndIsRewrittenVersioned(t *testing.T) {
	ctx := context.Background()
	raw, err := os.ReadFile(v0Fixture)
	if err != nil {
		t.Fatal(err)
	}
	var want v0Record
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	st := statetest.New(t)
	r := openRegistry(t, st)
	kv, err := st.JetStream().KeyValue(ctx, control.DefaultBucket)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "legacy", raw); err != nil {
		t.Fatal(err)
	}
	waitConfig(t, r, "legacy", isPresent) // the registry loads the old record
	f, _ := r.Lookup("legacy")
	got, err := json.Marshal(f.Config)
	if err != nil {
		t.Fatal(err)
	}
	if g, w := jsonValue(t, got), jsonValue(t, want.Config); !reflect.DeepEqual(g, w) {
		t.Errorf("the old record's configuration reads as\n%s\nwant\n%s", got, want.Config)
	}
	if !reflect.DeepEqual(f.Code, want.Code) || !reflect.DeepEqual(f.LayerCode, want.LayerCode) || !reflect.DeepEqual(f.Tags, want.Tags) {
		t.Errorf("code %+v, layer code %+v, tags %v; want %+v, %+v, %v", f.Code, f.LayerCode, f.Tags, want.Code, want.LayerCode, want.Tags)
	}

	desc := "rewritten"
	if _, err := r.UpdateConfiguration(ctx, &control.UpdateFunctionConfigurationInput{FunctionName: "legacy", Description: &desc}); err != nil {
		t.Fatal(err)
	}
	e, err := kv.Get(ctx, "legacy")
	if err != nil {
		t.Fatal(err)
	}
	var head struct {
		V      int             `json:"v"`
		Config json.RawMessage `json:"config"`
	}
	if err := json.Unmarshal(e.Value(), &head); err != nil {
		t.Fatal(err)
	}
	if head.V != 1 || head.Config != nil {
		t.Errorf("an updated record is stored as %s, want schema 1 with no wire configuration in it", e.Value())
	}
	waitConfig(t, r, "legacy", isUpdated)
	updated, _ := r.Lookup("legacy")
	again := openRegistry(t, st)
	reread, ok := again.Lookup("legacy")
	if !ok {
		t.Fatal("a registry opened on the rewritten record does not find the function")
	}
	a, _ := json.Marshal(updated.Config)
	b, _ := json.Marshal(reread.Config)
	if !bytes.Equal(a, b) || !reflect.DeepEqual(updated.LayerCode, reread.LayerCode) || reread.Config.Description != "rewritten" {
		t.Errorf("the schema-1 record reads back as\n%s\nwant\n%s", b, a)
	}
}

func TestARecordOfANewerSchemaIsNotLoadedAndNotOverwritten(t *testing.T) {
	ctx := context.Background()
	st := statetest.New(t)
	r := openRegistry(t, st)
	kv, err := st.JetStream().KeyValue(ctx, control.DefaultBucket)
	if err != nil {
		t.Fatal(err)
	}
	future := []byte(`{"v":99,"name":"future","shape":"unknown"}`)
	if _, err := kv.Put(ctx, "future", future); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Create(ctx, createInput(t, "present")); err != nil {
		t.Fatal(err)
	}
	waitConfig(t, r, "present", isPresent)
	if _, ok := r.Lookup("future"); ok {
		t.Error("a record of an unknown newer schema was loaded")
	}
	desc := "x"
	_, err = r.UpdateConfiguration(ctx, &control.UpdateFunctionConfigurationInput{FunctionName: "future", Description: &desc})
	if err == nil {
		t.Error("updating a function whose record is of a newer schema succeeded")
	}
	e, err := kv.Get(ctx, "future")
	if err != nil || !bytes.Equal(e.Value(), future) {
		t.Errorf("the newer record became %s (%v), want it untouched", e.Value(), err)
	}
}
