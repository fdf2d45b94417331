package control_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"io/fs"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ember-serverless/ember/internal/codestore"
	"github.com/ember-serverless/ember/internal/control"
	"github.com/ember-serverless/ember/internal/control/controltest"
	"github.com/ember-serverless/ember/internal/state/statetest"
	"github.com/ember-serverless/ember/internal/testenv"
)

// codeSite is a registry on a real code store: chunks in a JetStream bucket, unpacked copies in
// a cache directory, as the server has them.
type codeSite struct {
	reg   *control.Registry
	store *codestore.Store
	cache string
	size  func() (streamBytes uint64, cacheBytes int64)
}

func openCodeSite(t *testing.T) *codeSite {
	t.Helper()
	ctx := context.Background()
	st := statetest.New(t)
	blobs, err := codestore.NewJetStreamBlobs(ctx, st.JetStream(), "chunks", 1)
	if err != nil {
		t.Fatal(err)
	}
	stream, err := st.JetStream().Stream(ctx, "OBJ_chunks")
	if err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	store := codestore.New(blobs, cache)
	reg, err := control.Open(ctx, st, control.Config{}, control.Codestore{Store: store}, control.WithPrepare(func(ctx context.Context, f *control.Function) error {
		for _, c := range append([]control.Code{f.Code}, f.LayerCode...) {
			m, err := c.CodestoreManifest()
			if err != nil {
				return err
			}
			if _, err := store.Unpacked(ctx, m); err != nil {
				return err
			}
		}
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	size := func() (uint64, int64) {
		info, err := stream.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var n int64
		filepath.WalkDir(cache, func(_ string, d fs.DirEntry, err error) error {
			if err == nil {
				if fi, err := d.Info(); err == nil {
					n += fi.Size()
				}
			}
			return nil
		})
		return info.State.Bytes, n
	}
	return &codeSite{reg: reg, store: store, cache: cache, size: size}
}

// randomZip is a package no other holds: its chunks are its own.
func randomZip(t *testing.T, mb int) []byte {
	t.Helper()
	pad := make([]byte, mb<<20)
	rand.Read(pad)
	return controltest.Zip(t, map[string]string{"bootstrap": "#!/bin/sh\n", "pad": string(pad)})
}

func waitActive(t *testing.T, r *control.Registry, name string) {
	t.Helper()
	testenv.CheckFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		f, ok := r.Lookup(name)
		if !ok || f.Config.State != control.StateActive || f.Config.LastUpdateStatus == control.UpdateInProgress {
			return fmt.Errorf("%s is not Active yet", name)
		}
		return nil
	})
}

func TestCreateDeleteCyclesReturnTheCodeStoreToItsSize(t *testing.T) {
	ctx := context.Background()
	s := openCodeSite(t)
	if _, err := s.reg.CollectCode(ctx, s.store, 0); err != nil {
		t.Fatal(err)
	}
	emptyStream, emptyCache := s.size()
	for round := range 3 {
		layer, err := s.reg.Layers().Publish(ctx, &control.PublishLayerVersionInput{LayerName: "lib",
			Content: &control.LayerVersionContentInput{ZipFile: randomZip(t, 1)}})
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"plain", "layered"} {
			in := createInput(t, name)
			in.Code.ZipFile = randomZip(t, 2)
			if name == "layered" {
				in.Layers = []string{layer.Arn()}
			}
			if _, err := s.reg.Create(ctx, in); err != nil {
				t.Fatal(err)
			}
			waitActive(t, s.reg, name)
		}
		// An update leaves the first code unreferenced while the function lives on.
		if _, err := s.reg.UpdateCode(ctx, &control.UpdateFunctionCodeInput{FunctionName: "plain", ZipFile: randomZip(t, 2)}); err != nil {
			t.Fatal(err)
		}
		waitActive(t, s.reg, "plain")
		// A create that fails after storing its code (the name is taken) leaves code behind.
		dup := createInput(t, "plain")
		dup.Code.ZipFile = randomZip(t, 1)
		if _, err := s.reg.Create(ctx, dup); err == nil {
			t.Fatal("a second create of the same name succeeded")
		}
		grown, _ := s.size()

		if _, err := s.reg.CollectCode(ctx, s.store, 0); err != nil {
			t.Fatal(err)
		}
		t.Run("what functions and layers still use is kept", func(t *testing.T) {
			if after, _ := s.size(); after >= grown {
				t.Errorf("round %d: collecting the replaced and aborted code freed nothing (%d bytes before, %d after)", round, grown, after)
			}
			for _, name := range []string{"plain", "layered"} {
				f, _ := s.reg.Lookup(name)
				for _, c := range append([]control.Code{f.Code}, f.LayerCode...) {
					if _, err := (control.Codestore{Store: s.store}).Zip(ctx, c); err != nil {
						t.Errorf("round %d: %s lost code it uses: %v", round, name, err)
					}
				}
			}
		})

		// The layer version goes first: the function keeps its own copy of the layer.
		if err := s.reg.Layers().Delete(ctx, "lib", layer.Version); err != nil {
			t.Fatal(err)
		}
		if _, err := s.reg.CollectCode(ctx, s.store, 0); err != nil {
			t.Fatal(err)
		}
		f, _ := s.reg.Lookup("layered")
		if _, err := (control.Codestore{Store: s.store}).Zip(ctx, f.LayerCode[0]); err != nil {
			t.Errorf("round %d: a function lost its copy of a deleted layer version: %v", round, err)
		}
		for _, name := range []string{"plain", "layered"} {
			if err := s.reg.Delete(ctx, name, ""); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.reg.CollectCode(ctx, s.store, 0); err != nil {
			t.Fatal(err)
		}
		if stream, cache := s.size(); stream != emptyStream || cache != emptyCache {
			t.Errorf("round %d: after deleting everything the stream holds %d bytes and the cache %d; %d and %d before",
				round, stream, cache, emptyStream, emptyCache)
		}
	}
}

func TestACreateRacingACollectionKeepsItsCode(t *testing.T) {
	ctx := context.Background()
	s := openCodeSite(t)
	for round := range 10 {
		in := createInput(t, "racer")
		in.Code.ZipFile = randomZip(t, 3)
		var wg sync.WaitGroup
		var cerr, gerr error
		wg.Add(2)
		go func() { defer wg.Done(); _, cerr = s.reg.Create(ctx, in) }()
		go func() { defer wg.Done(); _, gerr = s.reg.CollectCode(ctx, s.store, time.Minute) }()
		wg.Wait()
		if cerr != nil || gerr != nil {
			t.Fatalf("round %d: create %v, collect %v", round, cerr, gerr)
		}
		waitActive(t, s.reg, "racer")
		f, _ := s.reg.Lookup("racer")
		if _, err := (control.Codestore{Store: s.store}).Zip(ctx, f.Code); err != nil {
			t.Fatalf("round %d: the function created during a collection lost its code: %v", round, err)
		}
		if err := s.reg.Delete(ctx, "racer", ""); err != nil {
			t.Fatal(err)
		}
	}
}

func TestAPublishedVersionKeepsItsCodeAfterLatestMovesOn(t *testing.T) {
	ctx := context.Background()
	s := openCodeSite(t)
	in := createInput(t, "versioned")
	in.Code.ZipFile = randomZip(t, 1)
	if _, err := s.reg.Create(ctx, in); err != nil {
		t.Fatal(err)
	}
	waitActive(t, s.reg, "versioned")
	v1, err := s.reg.PublishVersion(ctx, &control.PublishVersionInput{FunctionName: "versioned"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.reg.UpdateCode(ctx, &control.UpdateFunctionCodeInput{FunctionName: "versioned", ZipFile: randomZip(t, 1)}); err != nil {
		t.Fatal(err)
	}
	waitActive(t, s.reg, "versioned")
	if _, err := s.reg.CollectCode(ctx, s.store, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := (control.Codestore{Store: s.store}).Zip(ctx, v1.Code); err != nil {
		t.Errorf("version 1 lost its code to a collection: %v", err)
	}
}
