package codestore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"testing"

	"github.com/ember-serverless/ember/internal/lambdaerr"
)

// bigPackage is several megabytes of incompressible files, many chunks long.
func bigPackage(t testing.TB, changed int) []byte {
	t.Helper()
	var files []zfile
	for i := range 6 {
		body := noise(uint64(i), 1<<20)
		if i == changed {
			copy(body[500_000:], "this file was edited")
		}
		files = append(files, zfile{name: fmt.Sprintf("lib/part%d.bin", i), body: body, store: true})
	}
	return buildZip(t, append(files, exe("bootstrap", "#!/bin/sh\necho hi\n"))...)
}

func TestPutThenZipReturnsTheIdenticalPackage(t *testing.T) {
	tests := []struct {
		name string
		zip  []byte
	}{
		{"a small package round-trips", buildZip(t, exe("bootstrap", "#!/bin/sh\n"), file("lib/a.txt", "hello"))},
		{"an empty archive round-trips", buildZip(t)},
		{"a package of many chunks round-trips", bigPackage(t, -1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			s := New(NewMemBlobs(), t.TempDir())
			m, err := s.Put(ctx, tt.zip)
			if err != nil {
				t.Fatalf("Put: %v", err)
			}
			sum := sha256.Sum256(tt.zip)
			if want := base64.StdEncoding.EncodeToString(sum[:]); m.Sha256 != want {
				t.Errorf("Sha256 = %s, want Lambda's CodeSha256 %s", m.Sha256, want)
			}
			if m.Size != int64(len(tt.zip)) {
				t.Errorf("Size = %d, want %d", m.Size, len(tt.zip))
			}
			got, err := s.Zip(ctx, m)
			if err != nil {
				t.Fatalf("Zip: %v", err)
			}
			if !bytes.Equal(got, tt.zip) {
				t.Fatalf("Zip returned %d bytes that differ from the %d put", len(got), len(tt.zip))
			}
		})
	}
}

func TestTheBigPackageSpansSeveralChunks(t *testing.T) {
	m, err := New(NewMemBlobs(), t.TempDir()).Put(context.Background(), bigPackage(t, -1))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Chunks) < 8 {
		t.Fatalf("a 6 MB package made %d chunks, want at least 8", len(m.Chunks))
	}
}

func TestPuttingTheSamePackageTwiceStoresEachChunkOnce(t *testing.T) {
	ctx := context.Background()
	blobs := NewMemBlobs()
	s := New(blobs, t.TempDir())
	zip := bigPackage(t, -1)
	first, err := s.Put(ctx, zip)
	if err != nil {
		t.Fatal(err)
	}
	second, err := s.Put(ctx, zip)
	if err != nil {
		t.Fatal(err)
	}
	if len(first.Chunks) != len(second.Chunks) {
		t.Fatalf("chunk counts differ: %d and %d", len(first.Chunks), len(second.Chunks))
	}
	distinct := map[string]bool{}
	for i := range first.Chunks {
		if first.Chunks[i] != second.Chunks[i] {
			t.Errorf("chunk %d differs between the two puts: %+v vs %+v", i, first.Chunks[i], second.Chunks[i])
		}
		distinct[first.Chunks[i].ID] = true
	}
	if blobs.Len() != len(distinct) {
		t.Errorf("blob store holds %d blobs, want %d", blobs.Len(), len(distinct))
	}
	if blobs.Puts() != len(distinct) {
		t.Errorf("blob store got %d puts, want one per distinct chunk (%d)", blobs.Puts(), len(distinct))
	}
}

func TestEditingOneFileKeepsTheOtherChunks(t *testing.T) {
	ctx := context.Background()
	blobs := NewMemBlobs()
	s := New(blobs, t.TempDir())
	before, err := s.Put(ctx, bigPackage(t, -1))
	if err != nil {
		t.Fatal(err)
	}
	stored := blobs.Len()
	after, err := s.Put(ctx, bigPackage(t, 3))
	if err != nil {
		t.Fatal(err)
	}
	if before.Sha256 == after.Sha256 {
		t.Fatal("the edited package has the same hash")
	}
	old := map[string]bool{}
	for _, c := range before.Chunks {
		old[c.ID] = true
	}
	shared := 0
	for _, c := range after.Chunks {
		if old[c.ID] {
			shared++
		}
	}
	added := blobs.Len() - stored
	t.Logf("%d of %d chunks shared, %d new blobs", shared, len(after.Chunks), added)
	// The edit touches one chunk of file data and the central directory at the end.
	if added > 4 || shared < len(after.Chunks)-4 {
		t.Errorf("after editing one file: %d of %d chunks shared and %d new blobs; want all but a few shared",
			shared, len(after.Chunks), added)
	}
}

func TestBlobsAtRestDoNotContainThePlaintext(t *testing.T) {
	ctx := context.Background()
	marker := []byte("EMBER-PLAINTEXT-MARKER-7f3a")
	blobs := NewMemBlobs()
	s := New(blobs, t.TempDir())
	zip := buildZip(t,
		zfile{name: "secret.txt", body: bytes.Repeat(marker, 10), store: true},
		zfile{name: "big.bin", body: append(noise(9, 3<<20), marker...), store: true},
	)
	if !bytes.Contains(zip, marker) {
		t.Fatal("test setup: the zip should hold the marker in the clear")
	}
	if _, err := s.Put(ctx, zip); err != nil {
		t.Fatal(err)
	}
	if blobs.Len() == 0 {
		t.Fatal("nothing was stored")
	}
	blobs.Each(func(id string, data []byte) {
		if bytes.Contains(data, marker) {
			t.Errorf("blob %s holds the plaintext marker", id)
		}
		if bytes.Contains(data, zip[:30]) {
			t.Errorf("blob %s holds the zip's first bytes in the clear", id)
		}
	})
}

func TestZipRefusesDamagedOrMissingChunks(t *testing.T) {
	ctx := context.Background()
	zip := buildZip(t, file("a.txt", "hello"), exe("bootstrap", "#!/bin/sh\n"))
	tests := []struct {
		name   string
		damage func(b *MemBlobs, m *Manifest)
		want   error
	}{
		{"a flipped bit in a blob is corruption", func(b *MemBlobs, m *Manifest) {
			d := b.data[m.Chunks[0].ID]
			d[len(d)/2] ^= 1
		}, ErrCorrupt},
		{"a missing blob is not found", func(b *MemBlobs, m *Manifest) {
			delete(b.data, m.Chunks[0].ID)
		}, ErrBlobNotFound},
		{"a wrong key fails to open the chunk", func(b *MemBlobs, m *Manifest) {
			m.Chunks[0].Key = base64.StdEncoding.EncodeToString(make([]byte, 32))
		}, ErrCorrupt},
		{"a malformed hash is a bad manifest", func(b *MemBlobs, m *Manifest) {
			m.Sha256 = "../../etc"
		}, ErrBadManifest},
		{"sizes that do not add up are a bad manifest", func(b *MemBlobs, m *Manifest) {
			m.Size++
		}, ErrBadManifest},
		{"a chunk size beyond the chunker's maximum is a bad manifest", func(b *MemBlobs, m *Manifest) {
			m.Chunks[0].Size = 1 << 40
			m.Size = 1 << 40
		}, ErrBadManifest},
		{"a chunk id that is not a hash is a bad manifest", func(b *MemBlobs, m *Manifest) {
			m.Chunks[0].ID = "../x"
		}, ErrBadManifest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			blobs := NewMemBlobs()
			s := New(blobs, t.TempDir())
			m, err := s.Put(ctx, zip)
			if err != nil {
				t.Fatal(err)
			}
			m.Chunks = append([]Chunk(nil), m.Chunks...)
			tt.damage(blobs, &m)
			if _, err := s.Zip(ctx, m); !errors.Is(err, tt.want) {
				t.Fatalf("Zip error = %v, want %v", err, tt.want)
			}
			if _, err := s.Unpacked(ctx, m); !errors.Is(err, tt.want) {
				t.Fatalf("Unpacked error = %v, want %v", err, tt.want)
			}
		})
	}
}

// wantInvalid checks that err is Lambda's InvalidParameterValueException with the message.
func wantInvalid(t *testing.T, err error, msg string) {
	t.Helper()
	var le *lambdaerr.Error
	if !errors.As(err, &le) {
		t.Fatalf("error = %v, want a *lambdaerr.Error", err)
	}
	if le.Type != lambdaerr.InvalidParameterValue {
		t.Errorf("error type = %s, want %s", le.Type, lambdaerr.InvalidParameterValue)
	}
	if le.Message != msg {
		t.Errorf("message = %q\n           want %q", le.Message, msg)
	}
}
