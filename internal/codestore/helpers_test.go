package codestore

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"hash/crc32"
	"io/fs"
	"math/rand/v2"
	"testing"
	"time"
)

// zfile is one entry of a zip built by a test.
type zfile struct {
	name string
	body []byte
	mode fs.FileMode // type and permission bits; 0 means a 0644 file
	// store keeps the body uncompressed, so its bytes appear in the zip as they are.
	store bool
}

func file(name, body string) zfile { return zfile{name: name, body: []byte(body)} }

func exe(name, body string) zfile { return zfile{name: name, body: []byte(body), mode: 0o755} }

func dir(name string) zfile { return zfile{name: name, mode: fs.ModeDir | 0o755} }

func symlink(name, target string) zfile {
	return zfile{name: name, body: []byte(target), mode: fs.ModeSymlink | 0o777}
}

// buildZip writes files into a zip archive as a Unix zip tool would.
func buildZip(t testing.TB, files ...zfile) []byte {
	t.Helper()
	return buildZipAt(t, time.Time{}, files...)
}

// buildZipAt is buildZip with every entry's modification time set to mod.
func buildZipAt(t testing.TB, mod time.Time, files ...zfile) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range files {
		h := &zip.FileHeader{Name: f.name, Method: zip.Deflate, Modified: mod}
		if f.store {
			h.Method = zip.Store
		}
		mode := f.mode
		if mode == 0 {
			mode = 0o644
		}
		h.SetMode(mode)
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatalf("zip entry %q: %v", f.name, err)
		}
		if _, err := w.Write(f.body); err != nil {
			t.Fatalf("zip entry %q: %v", f.name, err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatalf("zip: %v", err)
	}
	return buf.Bytes()
}

// rawEntry is an entry whose compressed bytes and header sizes a test chooses, to build zips
// whose headers lie or whose entries share one compressed body.
type rawEntry struct {
	name         string
	deflated     []byte
	crc          uint32
	uncompressed uint64
}

func buildRawZip(t testing.TB, entries ...rawEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		h := &zip.FileHeader{
			Name:               e.name,
			Method:             zip.Deflate,
			CRC32:              e.crc,
			CompressedSize64:   uint64(len(e.deflated)),
			UncompressedSize64: e.uncompressed,
		}
		h.SetMode(0o644)
		w, err := zw.CreateRaw(h)
		if err != nil {
			t.Fatalf("raw zip entry %q: %v", e.name, err)
		}
		if _, err := w.Write(e.deflated); err != nil {
			t.Fatalf("raw zip entry %q: %v", e.name, err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatalf("zip: %v", err)
	}
	return buf.Bytes()
}

// deflateZeros returns n zero bytes deflated, with their CRC-32.
func deflateZeros(t testing.TB, n int) ([]byte, uint32) {
	t.Helper()
	var buf bytes.Buffer
	fw, err := flate.NewWriter(&buf, flate.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	zeros := make([]byte, 1<<20)
	crc := crc32.NewIEEE()
	for left := n; left > 0; {
		k := min(left, len(zeros))
		fw.Write(zeros[:k])
		crc.Write(zeros[:k])
		left -= k
	}
	if err := fw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), crc.Sum32()
}

// noise returns n deterministic pseudo-random bytes, different for each seed.
func noise(seed uint64, n int) []byte {
	r := rand.New(rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), 1}))
	b := make([]byte, n)
	for i := 0; i < n; i += 8 {
		v := r.Uint64()
		for j := 0; j < 8 && i+j < n; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return b
}
