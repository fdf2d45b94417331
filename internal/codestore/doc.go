// Package codestore owns function code packages: it validates uploaded zip files the way Lambda
// does, splits each package into content-defined chunks, encrypts every chunk with a key derived
// from the chunk's own hash (convergent encryption, so equal chunks are stored once while at
// rest encrypted), and keeps a read-only unpacked copy per code hash for sandboxes.
//
// Validation refuses, with Lambda's InvalidParameterValueException, a zip that cannot be read
// or whose entries fail their checksums ("Could not unzip uploaded file. Please check your
// file, then try to upload again."), more than 250 MB unzipped counted from the bytes actually
// inflated ("Unzipped size must be smaller than 262144000 bytes"), and, naming the entry:
// absolute or drive paths, ".." components, backslashes or NUL in names, names too long for a
// Linux file system, duplicates, entries beneath a file or link, device and special files,
// and symbolic links with an empty target or a NUL in it. Links that point out of the package
// (absolute, or climbing above its root) are kept as they are, as Lambda keeps them: they
// resolve inside the sandbox (a virtualenv's python, node_modules/.bin). Nothing on the host
// ever follows one: no entry may sit beneath a link, and extraction goes through an os.Root,
// which refuses to leave its directory. Lambda documents no cap on the number of entries;
// DefaultMaxFiles is Ember's.
//
// Storage format (never change it for stored data): the zip is cut with restic's Rabin chunker
// using one fixed polynomial (chunkPol), 128 KiB to 2 MiB per chunk, about 384 KiB on average.
// A chunk's key is HKDF-SHA256 of the chunk's SHA-256 with the label "ember codestore v1 chunk
// key"; its AES-256-GCM nonce is HKDF-SHA256 of the key labelled "ember codestore v1 chunk
// nonce" (each key seals exactly one plaintext); its ID, under which Blobs stores it, is the
// hex SHA-256 of the ciphertext. Keys live only in the Manifest, which callers must treat as a
// secret.
//
// The unpack cache is cacheDir/<hex sha256>/, built in a temporary directory through an os.Root
// and renamed into place; files are 0444, or 0555 when executable in the zip; directories are
// 0555; modification times are kept.
//
// The package owns the chunk format, the Manifest, the Blobs implementations (in memory and a
// JetStream Object Store bucket) and the cache directory's layout. It must not touch
// control-plane records, functions or sandboxes: callers store the Manifest where they like and
// hand the unpacked directory to a backend. It deletes chunks and unpacked copies only in
// Collect, given every manifest still in use by its callers (any chunk may be shared by many
// packages), and keeps what was stored or used since the collection's cutoff.
package codestore
