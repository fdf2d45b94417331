package codestore

import (
	"context"
	"io/fs"
	"strings"
	"testing"

	"github.com/ember-serverless/ember/internal/limits"
)

func TestBadPackagesAreRejectedAndStoreNothing(t *testing.T) {
	good := buildZip(t, file("a.txt", "hello world"), exe("bootstrap", "#!/bin/sh\n"))
	flipped := append([]byte(nil), good...)
	flipped[40] ^= 0xff // inside the first entry's compressed data
	deflated, crc := deflateZeros(t, 10_000)

	tests := []struct {
		name string
		zip  []byte
		opts []Option
		want string
	}{
		{"bytes that are not a zip are refused", []byte("this is not a zip file at all"), nil, msgCouldNotUnzip},
		{"an empty upload is refused", nil, nil, msgCouldNotUnzip},
		{"a truncated zip is refused", good[:len(good)/2], nil, msgCouldNotUnzip},
		{"an entry whose data fails its checksum is refused", flipped, nil, msgCouldNotUnzip},
		{"an entry that inflates past its declared size is refused",
			buildRawZip(t, rawEntry{name: "liar", deflated: deflated, crc: crc, uncompressed: 10}), nil, msgCouldNotUnzip},
		{"an absolute path is refused", buildZip(t, file("/etc/passwd", "x")), nil,
			`Could not unzip uploaded file. Entry "/etc/passwd" has an absolute path.`},
		{"a Windows drive path is refused", buildZip(t, file("C:/evil", "x")), nil,
			`Could not unzip uploaded file. Entry "C:/evil" has an absolute path.`},
		{"a leading .. component is refused", buildZip(t, file("../evil", "x")), nil,
			`Could not unzip uploaded file. Entry "../evil" has a ".." path component.`},
		{"a .. component deep in the path is refused", buildZip(t, file("a/b/../../../evil", "x")), nil,
			`Could not unzip uploaded file. Entry "a/b/../../../evil" has a ".." path component.`},
		{"a harmless-looking .. component is refused too", buildZip(t, file("a/../b", "x")), nil,
			`Could not unzip uploaded file. Entry "a/../b" has a ".." path component.`},
		{"a backslash traversal is refused", buildZip(t, file(`..\..\evil`, "x")), nil,
			`Could not unzip uploaded file. Entry "..\\..\\evil" has a backslash in its name.`},
		{"a NUL in a name is refused", buildZip(t, file("a\x00b", "x")), nil,
			`Could not unzip uploaded file. Entry "a\x00b" has a NUL byte in its name.`},
		{"a symlink with an empty target is refused", buildZip(t, symlink("l", "")), nil,
			`Could not unzip uploaded file. Entry "l" is a symbolic link with an invalid target.`},
		{"a file written through a symlink is refused",
			buildZip(t, symlink("l", "sub"), dir("sub/"), file("l/x", "x")), nil,
			`Could not unzip uploaded file. Entry "l/x" is inside "l", which is not a directory.`},
		{"a file placed beneath a link to a host directory is refused",
			buildZip(t, symlink("evil", "/etc"), file("evil/passwd", "root::0:0::/:/bin/sh\n")), nil,
			`Could not unzip uploaded file. Entry "evil/passwd" is inside "evil", which is not a directory.`},
		{"a symlink with a NUL in its target is refused", buildZip(t, symlink("l", "a\x00b")), nil,
			`Could not unzip uploaded file. Entry "l" is a symbolic link with an invalid target.`},
		{"a file beneath another file is refused", buildZip(t, file("a", "x"), file("a/b", "y")), nil,
			`Could not unzip uploaded file. Entry "a/b" is inside "a", which is not a directory.`},
		{"a character device is refused",
			buildZip(t, zfile{name: "tty", mode: fs.ModeDevice | fs.ModeCharDevice | 0o666}), nil,
			`Could not unzip uploaded file. Entry "tty" is a device or special file.`},
		{"a block device is refused", buildZip(t, zfile{name: "sda", mode: fs.ModeDevice | 0o660}), nil,
			`Could not unzip uploaded file. Entry "sda" is a device or special file.`},
		{"a named pipe is refused", buildZip(t, zfile{name: "fifo", mode: fs.ModeNamedPipe | 0o644}), nil,
			`Could not unzip uploaded file. Entry "fifo" is a device or special file.`},
		{"a socket is refused", buildZip(t, zfile{name: "sock", mode: fs.ModeSocket | 0o755}), nil,
			`Could not unzip uploaded file. Entry "sock" is a device or special file.`},
		{"a file listed twice is refused", buildZip(t, file("a", "1"), file("./a", "2")), nil,
			`Could not unzip uploaded file. Entry "./a" appears more than once.`},
		{"a name longer than the file system allows is refused",
			buildZip(t, file(strings.Repeat("n", 256), "x")), nil,
			`Could not unzip uploaded file. Entry "` + strings.Repeat("n", 256) + `" has a name component longer than 255 bytes.`},
		{"more entries than the limit are refused", buildZip(t, file("a", ""), file("b", ""), file("c", "")),
			[]Option{WithMaxFiles(2)},
			"Could not unzip uploaded file. The package has 3 entries; at most 2 are allowed."},
		{"a package over the unzipped limit is refused",
			buildZip(t, file("a", strings.Repeat("x", 600)), file("b", strings.Repeat("y", 500))),
			[]Option{WithMaxUnzippedSize(1000)}, "Unzipped size must be smaller than 1000 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			blobs := NewMemBlobs()
			s := New(blobs, t.TempDir(), tt.opts...)
			_, err := s.Validate(tt.zip)
			wantInvalid(t, err, tt.want)
			_, err = s.Put(context.Background(), tt.zip)
			wantInvalid(t, err, tt.want)
			if blobs.Len() != 0 {
				t.Errorf("a refused package left %d blobs behind", blobs.Len())
			}
		})
	}
}

func TestGoodPackagesAreAccepted(t *testing.T) {
	tests := []struct {
		name      string
		zip       []byte
		opts      []Option
		wantFiles int
		wantSize  int64
	}{
		{"plain files and directories are accepted",
			buildZip(t, dir("lib/"), file("lib/a.txt", "hello"), exe("bootstrap", "#!")), nil, 2, 7},
		{"a ./ prefix and the root's own entry are accepted",
			buildZip(t, dir("./"), file("./a.txt", "hi")), nil, 1, 2},
		{"a directory listed twice is accepted", buildZip(t, dir("d/"), dir("d/"), file("d/x", "1")), nil, 1, 1},
		{"symlinks that stay inside are accepted",
			buildZip(t, dir("lib/"), file("lib/libfoo.so.1", "elf"), symlink("lib/libfoo.so", "libfoo.so.1"),
				symlink("current", "lib"), symlink("lib/self", "../lib/libfoo.so")), nil, 4, 3 + 11 + 3 + 16},
		{"a symlink to an absolute path is accepted, as Lambda does (a virtualenv's python)",
			buildZip(t, symlink("venv/bin/python", "/usr/bin/python3")), nil, 1, 16},
		{"a symlink climbing out of the package is accepted: it resolves inside the sandbox",
			buildZip(t, symlink("a/up", "../../x")), nil, 1, 7},
		{"node_modules/.bin links are accepted",
			buildZip(t, exe("node_modules/pkg/bin/x", "#!"), symlink("node_modules/.bin/x", "../pkg/bin/x")), nil, 2, 2 + 12},
		{"a symlink loop is harmless and accepted", buildZip(t, symlink("a", "b"), symlink("b", "a")), nil, 2, 2},
		{"a dangling symlink inside is accepted", buildZip(t, symlink("a", "missing/file")), nil, 1, 12},
		{"exactly the unzipped limit is accepted", buildZip(t, file("a", strings.Repeat("x", 1000))),
			[]Option{WithMaxUnzippedSize(1000)}, 1, 1000},
		{"an empty archive is accepted", buildZip(t), nil, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info, err := New(NewMemBlobs(), t.TempDir(), tt.opts...).Validate(tt.zip)
			if err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if info.Files != tt.wantFiles || info.UnzippedSize != tt.wantSize || info.Size != int64(len(tt.zip)) {
				t.Errorf("Info = %+v, want Files %d, UnzippedSize %d, Size %d", info, tt.wantFiles, tt.wantSize, len(tt.zip))
			}
		})
	}
}

func TestZipBombsAreRefusedFromTheBytesInflated(t *testing.T) {
	oneMiB, oneMiBCRC := deflateZeros(t, 1<<20)
	tests := []struct {
		name string
		zip  func(t *testing.T) []byte
		opts []Option
		want string
	}{
		{"a tiny zip inflating past a small limit is refused",
			func(t *testing.T) []byte {
				return buildRawZip(t, rawEntry{name: "bomb", deflated: oneMiB, crc: oneMiBCRC, uncompressed: 1 << 20})
			},
			[]Option{WithMaxUnzippedSize(64 << 10)}, "Unzipped size must be smaller than 65536 bytes"},
		{"entries whose headers claim zero bytes but inflate to more are refused as corrupt",
			func(t *testing.T) []byte {
				var es []rawEntry
				for i := range 4 {
					es = append(es, rawEntry{name: string(rune('a' + i)), deflated: oneMiB, crc: oneMiBCRC, uncompressed: 0})
				}
				return buildRawZip(t, es...)
			},
			[]Option{WithMaxUnzippedSize(3 << 20)}, msgCouldNotUnzip},
		{"many small entries sharing one compressed body are refused",
			func(t *testing.T) []byte {
				var es []rawEntry
				for i := range 8 {
					es = append(es, rawEntry{name: string(rune('a' + i)), deflated: oneMiB, crc: oneMiBCRC, uncompressed: 1 << 20})
				}
				return buildRawZip(t, es...)
			},
			[]Option{WithMaxUnzippedSize(5 << 20)}, "Unzipped size must be smaller than 5242880 bytes"},
		{"one entry inflating one byte past Lambda's 250 MB is refused",
			func(t *testing.T) []byte {
				d, crc := deflateZeros(t, int(limits.MaxUnzippedSize)+1)
				return buildRawZip(t, rawEntry{name: "zeros", deflated: d, crc: crc, uncompressed: uint64(limits.MaxUnzippedSize) + 1})
			},
			nil, "Unzipped size must be smaller than 262144000 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			zip := tt.zip(t)
			if len(zip) > 300<<10 {
				t.Fatalf("test setup: the bomb is %d bytes, meant to be tiny", len(zip))
			}
			blobs := NewMemBlobs()
			_, err := New(blobs, t.TempDir(), tt.opts...).Put(context.Background(), zip)
			wantInvalid(t, err, tt.want)
			if blobs.Len() != 0 {
				t.Errorf("a refused package left %d blobs behind", blobs.Len())
			}
		})
	}
}
