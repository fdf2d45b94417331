package control_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/ember-serverless/ember/internal/codestore"
	"github.com/ember-serverless/ember/internal/control"
	"github.com/ember-serverless/ember/internal/state/statetest"
)

func TestTheCodestoreAdapterStoresAndReadsBackAFunctionsPackage(t *testing.T) {
	ctx := context.Background()
	cs := control.Codestore{Store: codestore.New(codestore.NewMemBlobs(), t.TempDir())}
	r, err := control.Open(ctx, statetest.New(t), control.Config{}, cs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	in := createInput(t, "stored")
	f, err := r.Create(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	m, err := f.Code.CodestoreManifest()
	if err != nil || m.Sha256 != f.Config.CodeSha256 || m.Size != f.Config.CodeSize {
		t.Fatalf("manifest %+v (%v) does not match the configuration %s/%d", m, err, f.Config.CodeSha256, f.Config.CodeSize)
	}
	zip, err := cs.Zip(ctx, f.Code)
	if err != nil || !bytes.Equal(zip, in.Code.ZipFile) {
		t.Fatalf("read back %d bytes, %v", len(zip), err)
	}
	bad := createInput(t, "bad")
	bad.Code.ZipFile = []byte("not a zip")
	if _, err := r.Create(ctx, bad); errType(err) != "InvalidParameterValueException" {
		t.Errorf("a bad package: %v", err)
	}
}
