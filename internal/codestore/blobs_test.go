package codestore

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ember-serverless/ember/internal/state/statetest"
)

// blobsSuite is what every Blobs implementation must do.
func blobsSuite(t *testing.T, newBlobs func(t *testing.T) Blobs) {
	ctx := context.Background()
	tests := []struct {
		name string
		run  func(t *testing.T, b Blobs)
	}{
		{"a stored blob reads back", func(t *testing.T, b Blobs) {
			data := noise(1, 300_000)
			if err := b.Put(ctx, "abc", data); err != nil {
				t.Fatal(err)
			}
			got, err := b.Get(ctx, "abc")
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("Get = %d bytes, %v; want the %d put", len(got), err, len(data))
			}
			if has, err := b.Has(ctx, "abc"); err != nil || !has {
				t.Fatalf("Has = %v, %v; want true", has, err)
			}
		}},
		{"a missing blob is not found", func(t *testing.T, b Blobs) {
			if _, err := b.Get(ctx, "missing"); !errors.Is(err, ErrBlobNotFound) {
				t.Fatalf("Get error = %v, want ErrBlobNotFound", err)
			}
			if has, err := b.Has(ctx, "missing"); err != nil || has {
				t.Fatalf("Has = %v, %v; want false", has, err)
			}
		}},
		{"putting a blob twice is harmless", func(t *testing.T, b Blobs) {
			for range 2 {
				if err := b.Put(ctx, "twice", []byte("same")); err != nil {
					t.Fatal(err)
				}
			}
			if got, err := b.Get(ctx, "twice"); err != nil || string(got) != "same" {
				t.Fatalf("Get = %q, %v", got, err)
			}
		}},
		{"blobs are listed with their sizes and deleted", func(t *testing.T, b Blobs) {
			sb, ok := b.(SweepableBlobs)
			if !ok {
				t.Fatal("the implementation cannot be listed and deleted")
			}
			before := time.Now().Add(-time.Second)
			for id, data := range map[string]string{"one": "1", "two": "22"} {
				if err := b.Put(ctx, id, []byte(data)); err != nil {
					t.Fatal(err)
				}
			}
			list, err := sb.List(ctx)
			if err != nil || len(list) != 2 {
				t.Fatalf("List = %+v, %v; want two blobs", list, err)
			}
			for _, bi := range list {
				if want := map[string]int64{"one": 1, "two": 2}[bi.ID]; bi.Size != want || bi.Modified.Before(before) {
					t.Errorf("listed %+v", bi)
				}
			}
			if err := sb.Delete(ctx, "one"); err != nil {
				t.Fatal(err)
			}
			if err := sb.Delete(ctx, "never-stored"); err != nil {
				t.Errorf("deleting a blob never stored: %v", err)
			}
			if has, _ := b.Has(ctx, "one"); has {
				t.Error("a deleted blob is still there")
			}
			if list, _ := sb.List(ctx); len(list) != 1 || list[0].ID != "two" {
				t.Errorf("after a delete List = %+v, want only two", list)
			}
		}},
		{"a store on these blobs round-trips and unpacks a package", func(t *testing.T, b Blobs) {
			s := New(b, t.TempDir())
			zip := bigPackage(t, -1)
			m, err := s.Put(ctx, zip)
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.Zip(ctx, m)
			if err != nil || !bytes.Equal(got, zip) {
				t.Fatalf("Zip = %d bytes, %v; want the %d put", len(got), err, len(zip))
			}
			if _, err := s.Unpacked(ctx, m); err != nil {
				t.Fatalf("Unpacked: %v", err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, newBlobs(t)) })
	}
}

func TestMemBlobsPassTheBlobsSuite(t *testing.T) {
	blobsSuite(t, func(t *testing.T) Blobs { return NewMemBlobs() })
}

func TestJetStreamBlobsPassTheBlobsSuite(t *testing.T) {
	js := statetest.New(t).JetStream()
	n := 0
	blobsSuite(t, func(t *testing.T) Blobs {
		n++
		b, err := NewJetStreamBlobs(context.Background(), js, "code_test_"+string(rune('a'+n)), 1)
		if err != nil {
			t.Fatalf("NewJetStreamBlobs: %v", err)
		}
		return b
	})
}

func TestJetStreamBlobsOpenAnExistingBucket(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st := statetest.NewIn(t, dir)
	b, err := NewJetStreamBlobs(ctx, st.JetStream(), "code", 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Put(ctx, "kept", []byte("across restarts")); err != nil {
		t.Fatal(err)
	}
	st.Close()

	again, err := NewJetStreamBlobs(ctx, statetest.NewIn(t, dir).JetStream(), "code", 1)
	if err != nil {
		t.Fatalf("reopening the bucket: %v", err)
	}
	if got, err := again.Get(ctx, "kept"); err != nil || string(got) != "across restarts" {
		t.Fatalf("after a restart Get = %q, %v", got, err)
	}
}

func TestJetStreamBucketHoldsEachChunkOnce(t *testing.T) {
	ctx := context.Background()
	js := statetest.New(t).JetStream()
	b, err := NewJetStreamBlobs(ctx, js, "code", 1)
	if err != nil {
		t.Fatal(err)
	}
	s := New(b, t.TempDir())
	zip := bigPackage(t, -1)
	var m Manifest
	for range 2 {
		if m, err = s.Put(ctx, zip); err != nil {
			t.Fatal(err)
		}
	}
	distinct := map[string]bool{}
	for _, c := range m.Chunks {
		distinct[c.ID] = true
	}
	obs, err := js.ObjectStore(ctx, "code")
	if err != nil {
		t.Fatal(err)
	}
	objects, err := obs.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(objects) != len(distinct) {
		t.Errorf("bucket holds %d objects after two puts, want %d", len(objects), len(distinct))
	}
}
