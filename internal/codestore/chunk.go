package codestore

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/restic/chunker"
)

// Chunking parameters. They are part of the storage format: every server must cut equal content
// at the same places, or equal packages stop sharing chunks. Never change them for existing data.
const (
	// chunkPol is the irreducible polynomial of degree 53 the Rabin fingerprint is computed with.
	chunkPol = chunker.Pol(0x2111b08da96603)
	// chunkMin and chunkMax bound a chunk's size; chunkAvgBits puts the average cut every 256 KiB
	// beyond the minimum, small enough that editing one file of a package leaves most chunks
	// unchanged.
	chunkMin     = 128 << 10
	chunkMax     = 2 << 20
	chunkAvgBits = 18
)

// Domain-separation labels for the keys derived from a chunk's hash.
const (
	kdfKeyInfo   = "ember codestore v1 chunk key"
	kdfNonceInfo = "ember codestore v1 chunk nonce"
)

// split cuts data into content-defined chunks and calls fn with each, in order. The slice passed
// to fn is only valid during the call.
func split(data []byte, fn func(chunk []byte) error) error {
	c := chunker.NewWithBoundaries(bytes.NewReader(data), chunkPol, chunkMin, chunkMax)
	c.SetAverageBits(chunkAvgBits)
	buf := make([]byte, chunkMax)
	for {
		ch, err := c.Next(buf)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("codestore: chunking: %w", err)
		}
		if err := fn(ch.Data); err != nil {
			return err
		}
	}
}

// chunkKey derives a chunk's AES-256 key from the SHA-256 of its plaintext (convergent
// encryption: equal plaintexts get equal keys, so equal ciphertexts and one stored copy).
func chunkKey(plain []byte) []byte {
	sum := sha256.Sum256(plain)
	key, err := hkdf.Key(sha256.New, sum[:], nil, kdfKeyInfo, 32)
	if err != nil {
		panic("codestore: hkdf: " + err.Error()) // only for lengths out of range
	}
	return key
}

// aead returns the AES-256-GCM cipher for key and the nonce to use with it. The nonce is
// derived from the key: each key seals exactly one plaintext, so the pair never repeats with
// different data.
func aead(key []byte) (cipher.AEAD, []byte, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, nil, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, nil, err
	}
	nonce, err := hkdf.Key(sha256.New, key, nil, kdfNonceInfo, gcm.NonceSize())
	if err != nil {
		return nil, nil, err
	}
	return gcm, nonce, nil
}

// seal encrypts one chunk and returns its manifest entry and the ciphertext.
func seal(plain []byte) (Chunk, []byte, error) {
	key := chunkKey(plain)
	gcm, nonce, err := aead(key)
	if err != nil {
		return Chunk{}, nil, fmt.Errorf("codestore: sealing chunk: %w", err)
	}
	sealed := gcm.Seal(nil, nonce, plain, nil)
	id := sha256.Sum256(sealed)
	return Chunk{
		ID:   hex.EncodeToString(id[:]),
		Key:  base64.StdEncoding.EncodeToString(key),
		Size: len(plain),
	}, sealed, nil
}

// open checks a stored chunk against its manifest entry and decrypts it.
func open(c Chunk, sealed []byte) ([]byte, error) {
	id := sha256.Sum256(sealed)
	if hex.EncodeToString(id[:]) != c.ID {
		return nil, fmt.Errorf("%w: chunk %s does not hash to its id", ErrCorrupt, c.ID)
	}
	key, err := base64.StdEncoding.DecodeString(c.Key)
	if err != nil || len(key) != 32 {
		return nil, fmt.Errorf("%w: chunk %s key is not a base64 256-bit key", ErrBadManifest, c.ID)
	}
	gcm, nonce, err := aead(key)
	if err != nil {
		return nil, fmt.Errorf("codestore: chunk %s: %w", c.ID, err)
	}
	plain, err := gcm.Open(nil, nonce, sealed, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: chunk %s does not decrypt: %v", ErrCorrupt, c.ID, err)
	}
	if len(plain) != c.Size || !bytes.Equal(chunkKey(plain), key) {
		return nil, fmt.Errorf("%w: chunk %s does not match its key", ErrCorrupt, c.ID)
	}
	return plain, nil
}
