package codestore

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ember-serverless/ember/internal/state/statetest"
)

// chunkIDs is the set of chunk ids a manifest references.
func chunkIDs(m Manifest) map[string]bool {
	ids := make(map[string]bool)
	for _, c := range m.Chunks {
		ids[c.ID] = true
	}
	return ids
}

func TestCollectKeepsWhatIsInUseOrRecentAndDeletesTheRest(t *testing.T) {
	ctx := context.Background()
	blobs := NewMemBlobs()
	cache := t.TempDir()
	s := New(blobs, cache)
	kept, err := s.Put(ctx, buildZip(t, exe("bootstrap", "kept"), file("big", string(noise(1, 1<<20)))))
	if err != nil {
		t.Fatal(err)
	}
	gone, err := s.Put(ctx, buildZip(t, exe("bootstrap", "gone"), file("big", string(noise(2, 1<<20)))))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []Manifest{kept, gone} {
		if _, err := s.Unpacked(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	cutoff := time.Now()
	recent, err := s.Put(ctx, buildZip(t, exe("bootstrap", "recent")))
	if err != nil {
		t.Fatal(err)
	}

	st, err := s.Collect(ctx, InUse{kept}, cutoff)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("a package in use still reads back and stays unpacked", func(t *testing.T) {
		if _, err := s.Zip(ctx, kept); err != nil {
			t.Fatal(err)
		}
		if h, _ := kept.HexSha256(); !isDir(filepath.Join(cache, h)) {
			t.Error("its unpacked copy was evicted")
		}
	})
	t.Run("a package stored after the cutoff is kept though nothing references it yet", func(t *testing.T) {
		if _, err := s.Zip(ctx, recent); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("a package nothing uses loses its chunks and its unpacked copy", func(t *testing.T) {
		for id := range chunkIDs(gone) {
			if chunkIDs(kept)[id] {
				continue
			}
			if has, _ := blobs.Has(ctx, id); has {
				t.Errorf("chunk %s is still stored", id)
			}
		}
		if h, _ := gone.HexSha256(); isDir(filepath.Join(cache, h)) {
			t.Error("its unpacked copy is still in the cache")
		}
		if st.Blobs == 0 || st.Unpacked != 1 {
			t.Errorf("stats %+v, want some blobs and one unpacked copy", st)
		}
	})
}

// TestAPutRacingACollectionNeverLosesAChunkItFoundStored runs, many times, a Put of a package
// whose chunks are all stored already (so it stores none) against a collection that finds
// them unreferenced and old: whichever wins, the package must read back afterwards.
func TestAPutRacingACollectionNeverLosesAChunkItFoundStored(t *testing.T) {
	ctx := context.Background()
	s := New(NewMemBlobs(), t.TempDir())
	zip := buildZip(t, exe("bootstrap", "x"), file("big", string(noise(3, 3<<20))))
	for i := range 50 {
		if _, err := s.Put(ctx, zip); err != nil {
			t.Fatal(err)
		}
		cutoff := time.Now() // every chunk is older: only Put's use can save it
		var wg sync.WaitGroup
		var m Manifest
		var perr, cerr error
		wg.Add(2)
		go func() { defer wg.Done(); m, perr = s.Put(ctx, zip) }()
		go func() { defer wg.Done(); _, cerr = s.Collect(ctx, nil, cutoff) }()
		wg.Wait()
		if perr != nil || cerr != nil {
			t.Fatalf("round %d: put %v, collect %v", i, perr, cerr)
		}
		if _, err := s.Zip(ctx, m); err != nil {
			t.Fatalf("round %d: the package put during a collection lost chunks: %v", i, err)
		}
	}
}

func TestCollectingAJetStreamBucketReturnsItsStreamToItsSize(t *testing.T) {
	ctx := context.Background()
	js := statetest.New(t).JetStream()
	blobs, err := NewJetStreamBlobs(ctx, js, "collect_test", 1)
	if err != nil {
		t.Fatal(err)
	}
	stream, err := js.Stream(ctx, "OBJ_collect_test")
	if err != nil {
		t.Fatal(err)
	}
	size := func() uint64 {
		info, err := stream.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return info.State.Bytes
	}
	cache := t.TempDir()
	s := New(blobs, cache)
	empty := size()
	for round := range 3 {
		m, err := s.Put(ctx, buildZip(t, exe("bootstrap", "x"), file("big", string(noise(uint64(10+round), 2<<20)))))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Unpacked(ctx, m); err != nil {
			t.Fatal(err)
		}
		if size() <= empty {
			t.Fatal("storing a package did not grow the stream")
		}
		if _, err := s.Collect(ctx, nil, time.Now()); err != nil {
			t.Fatal(err)
		}
		if got := size(); got != empty {
			t.Errorf("round %d: the stream holds %d bytes after collecting everything, %d before", round, got, empty)
		}
		if ents, _ := os.ReadDir(cache); len(ents) != 0 {
			t.Errorf("round %d: the cache still holds %d entries", round, len(ents))
		}
	}
}
