package harness

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// Standalone is what a bench that drives an `ember server` of its own needs before it starts
// one: a work dir, the ember binary, the echo function's deployment package and fresh root
// credentials.
type Standalone struct {
	WorkDir string
	Bin     string
	Zip     []byte
	Creds   aws.Credentials
}

// NewStandalone makes a work dir named after the bench, builds or finds ember (emberPath) and
// the echo function (echo), and makes root credentials with access key id keyID. Close removes
// the work dir.
func NewStandalone(ctx context.Context, bench, emberPath, echo, keyID string) (*Standalone, error) {
	work, err := os.MkdirTemp("", "ember-bench-"+bench+"-")
	if err != nil {
		return nil, err
	}
	s := &Standalone{WorkDir: work, Creds: NewCredentials(keyID)}
	if s.Bin, err = ResolveEmber(ctx, emberPath, filepath.Join(work, "ember")); err != nil {
		s.Close()
		return nil, err
	}
	boot, err := Resolve(ctx, echo, ".", filepath.Join(work, "function", "bootstrap"))
	if err == nil {
		s.Zip, err = ZipBootstrap(boot)
	}
	if err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Start starts `ember server` with args, deploying functions at memoryMB.
func (s *Standalone) Start(ctx context.Context, args []string, memoryMB int32) (*Ember, error) {
	return StartEmber(ctx, EmberConfig{Bin: s.Bin, Args: args, Creds: s.Creds, Region: "us-east-1",
		Zip: s.Zip, MemorySize: memoryMB, WorkDir: s.WorkDir})
}

// Close removes the work dir.
func (s *Standalone) Close() { os.RemoveAll(s.WorkDir) }

// NewCredentials are root credentials with access key id keyID and a random secret, which a
// bench gives the server it starts and signs its requests with.
func NewCredentials(keyID string) aws.Credentials {
	secret := make([]byte, 20)
	_, _ = rand.Read(secret)
	return aws.Credentials{AccessKeyID: keyID, SecretAccessKey: hex.EncodeToString(secret), Source: "bench"}
}

// MustFreeAddr is a loopback address with a port that was free a moment ago, for a bench's
// setup, which cannot go on without one: it panics if none can be had.
func MustFreeAddr() string {
	addr, err := freeAddr()
	if err != nil {
		panic(err)
	}
	return addr
}
