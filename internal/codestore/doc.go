// Package codestore owns function code packages: it validates uploaded zip files the way Lambda
// does (no absolute or ".." paths, no links out of the package, no special files, at most
// 250 MB unzipped, counted from the bytes actually inflated), splits each package into
// content-defined chunks, encrypts every chunk with a key derived from the chunk's own hash
// (convergent encryption, so equal chunks are stored once while at rest encrypted), and keeps a
// read-only unpacked copy per code hash for sandboxes.
//
// The package owns the chunk format, the Manifest saved in control-plane records, the Blobs
// implementations (in memory and a JetStream Object Store bucket) and the layout of the unpack
// cache directory. It must not touch control-plane records, functions or sandboxes: callers
// store the Manifest where they like and hand the unpacked directory to a backend. It never
// deletes blobs, since any chunk may be shared by many packages; collecting unreferenced chunks
// is the caller's job.
package codestore
