// Package controltest gives tests of the registry and of its users an in-memory code store and
// small deployment packages.
package controltest

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	"github.com/ember-serverless/ember/internal/control"
	"github.com/ember-serverless/ember/internal/lambdaerr"
)

// CodeStore is an in-memory code store: it checks that a package is a readable zip and keeps it
// whole.
type CodeStore struct {
	mu   sync.Mutex
	zips map[string][]byte
	puts int
}

var _ control.CodeWriter = (*CodeStore)(nil)

// NewCodeStore returns an empty store.
func NewCodeStore() *CodeStore { return &CodeStore{zips: make(map[string][]byte)} }

type manifest struct {
	Sha256 string `json:"sha256"`
}

// Put implements control.CodeWriter.
func (s *CodeStore) Put(_ context.Context, z []byte) (control.StoredCode, error) {
	zr, err := zip.NewReader(bytes.NewReader(z), int64(len(z)))
	if err != nil {
		return control.StoredCode{}, lambdaerr.InvalidParameter("Could not unzip uploaded file. Please check your file, then try to upload again.")
	}
	var unzipped int64
	for _, f := range zr.File {
		unzipped += int64(f.UncompressedSize64)
	}
	sum := sha256.Sum256(z)
	key := hex.EncodeToString(sum[:])
	s.mu.Lock()
	s.zips[key] = bytes.Clone(z)
	s.puts++
	s.mu.Unlock()
	m, _ := json.Marshal(manifest{Sha256: key})
	return control.StoredCode{UnzippedSize: unzipped, Manifest: m}, nil
}

// Zip returns the package a function's code was stored from.
func (s *CodeStore) Zip(_ context.Context, c control.Code) ([]byte, error) {
	var m manifest
	if err := json.Unmarshal(c.Manifest, &m); err != nil {
		return nil, fmt.Errorf("controltest: manifest: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	z, ok := s.zips[m.Sha256]
	if !ok {
		return nil, fmt.Errorf("controltest: no package %s", m.Sha256)
	}
	return z, nil
}

// Puts is how many packages were stored.
func (s *CodeStore) Puts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.puts
}

// Zip builds a deployment package holding files (name → content); bootstrap files are
// executable.
func Zip(t testing.TB, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	for name, content := range files {
		h := &zip.FileHeader{Name: name, Method: zip.Deflate}
		h.SetMode(0o755)
		f, err := w.CreateHeader(h)
		if err != nil {
			t.Fatalf("zip %s: %v", name, err)
		}
		if _, err := f.Write([]byte(content)); err != nil {
			t.Fatalf("zip %s: %v", name, err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatalf("zip: %v", err)
	}
	return buf.Bytes()
}
