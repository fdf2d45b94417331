package codestore

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"

	"github.com/ember-serverless/ember/internal/lambdaerr"
)

// Lambda's messages for packages it cannot take.
const (
	msgCouldNotUnzip = "Could not unzip uploaded file. Please check your file, then try to upload again."
	msgTooLarge      = "Unzipped size must be smaller than %d bytes"
)

// Limits on names, as Linux file systems have them, so that a valid package always extracts.
const (
	maxNameComponent = 255
	maxPathLength    = 4095
)

// Info describes a valid package.
type Info struct {
	// Sha256 is the base64 SHA-256 of the zip, Lambda's CodeSha256.
	Sha256 string
	// Size is the zip's size in bytes, Lambda's CodeSize.
	Size int64
	// UnzippedSize is the number of bytes the entries inflate to, counted while inflating.
	UnzippedSize int64
	// Files counts the regular files and symbolic links in the package (not directories).
	Files int
}

type entryKind uint8

const (
	entryDir entryKind = iota
	entryFile
	entrySymlink
)

// entry is one checked member of a package.
type entry struct {
	name   string // cleaned, relative, slash-separated; never empty
	kind   entryKind
	perm   fs.FileMode // for files: 0555 when executable in the zip, else 0444
	file   *zip.File
	target string // for symlinks
}

// pkg is a package that passed validation, ready to extract.
type pkg struct {
	info    Info
	entries []entry
}

// Validate checks a zip package the way Lambda does before accepting it, without storing
// anything. A package Lambda would refuse gets a *lambdaerr.Error of type
// InvalidParameterValueException.
func (s *Store) Validate(zip []byte) (Info, error) {
	p, err := s.parse(zip)
	if err != nil {
		return Info{}, err
	}
	return p.info, nil
}

func invalid(format string, args ...any) error {
	return lambdaerr.InvalidParameter(format, args...)
}

func badEntry(name, why string, args ...any) error {
	return invalid("Could not unzip uploaded file. Entry %q %s.", name, fmt.Sprintf(why, args...))
}

// parse validates data and returns its entries. Every entry is inflated, so sizes are what the
// data holds rather than what the headers claim, and checksums are verified.
func (s *Store) parse(data []byte) (*pkg, error) {
	sum := sha256.Sum256(data)
	p := &pkg{info: Info{Sha256: base64.StdEncoding.EncodeToString(sum[:]), Size: int64(len(data))}}

	r, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) { // names are checked below
		return nil, invalid(msgCouldNotUnzip)
	}
	if len(r.File) > s.maxFiles {
		return nil, invalid("Could not unzip uploaded file. The package has %d entries; at most %d are allowed.",
			len(r.File), s.maxFiles)
	}

	kinds := make(map[string]entryKind, len(r.File))
	for _, f := range r.File {
		name, err := cleanName(f.Name)
		if err != nil {
			return nil, err
		}
		mode := f.Mode()
		e := entry{name: name, file: f}
		switch {
		case mode&(fs.ModeDevice|fs.ModeCharDevice|fs.ModeNamedPipe|fs.ModeSocket|fs.ModeIrregular) != 0:
			return nil, badEntry(f.Name, "is a device or special file")
		case mode&fs.ModeSymlink != 0:
			if strings.HasSuffix(f.Name, "/") {
				return nil, badEntry(f.Name, "is a symbolic link named like a directory")
			}
			e.kind = entrySymlink
		case mode.IsDir():
			e.kind = entryDir
		default:
			e.kind = entryFile
			// Sandboxes may run as any user, so a file executable by anyone in the zip is
			// executable by everyone once unpacked; everything is readable, nothing writable,
			// and setuid, setgid and sticky bits are dropped.
			e.perm = 0o444
			if mode.Perm()&0o111 != 0 {
				e.perm = 0o555
			}
		}
		if name == "" {
			if e.kind == entryDir {
				continue // the package root itself
			}
			return nil, badEntry(f.Name, "is not a valid file name")
		}
		if prev, ok := kinds[name]; ok && (prev != entryDir || e.kind != entryDir) {
			return nil, badEntry(f.Name, "appears more than once")
		}
		kinds[name] = e.kind
		p.entries = append(p.entries, e)
	}

	// Nothing may live beneath a file or a link: writing through a link is how archives escape.
	for _, e := range p.entries {
		for d := path.Dir(e.name); d != "."; d = path.Dir(d) {
			if k, ok := kinds[d]; ok && k != entryDir {
				return nil, badEntry(e.file.Name, "is inside %q, which is not a directory", d)
			}
		}
	}

	var total int64
	for i := range p.entries {
		e := &p.entries[i]
		if e.kind == entryDir {
			continue
		}
		p.info.Files++
		rc, err := e.file.Open()
		if err != nil {
			return nil, invalid(msgCouldNotUnzip)
		}
		if e.kind == entrySymlink {
			target, err := io.ReadAll(io.LimitReader(rc, maxLinkTarget+1))
			rc.Close()
			if err != nil {
				return nil, invalid(msgCouldNotUnzip)
			}
			total += int64(len(target))
			if len(target) > maxLinkTarget {
				return nil, badEntry(e.file.Name, "is a symbolic link with a target longer than %d bytes", maxLinkTarget)
			}
			e.target = string(target)
		} else {
			n, err := io.Copy(io.Discard, io.LimitReader(rc, s.maxUnzipped-total+1))
			rc.Close()
			total += n
			if total > s.maxUnzipped {
				return nil, invalid(msgTooLarge, s.maxUnzipped)
			}
			if err != nil {
				return nil, invalid(msgCouldNotUnzip)
			}
		}
		if total > s.maxUnzipped {
			return nil, invalid(msgTooLarge, s.maxUnzipped)
		}
	}
	p.info.UnzippedSize = total

	// A link's target is kept as it is, wherever it points: like Lambda, Ember lets a package
	// ship links to places outside it (a virtualenv's python -> /usr/bin/python3,
	// node_modules/.bin), which resolve inside the sandbox. On the host no link is ever
	// followed: nothing is written beneath one (checked above) and extraction goes through an
	// os.Root.
	for _, e := range p.entries {
		if e.kind == entrySymlink && (e.target == "" || strings.IndexByte(e.target, 0) >= 0) {
			return nil, badEntry(e.file.Name, "is a symbolic link with an invalid target")
		}
	}
	return p, nil
}

// cleanName checks an entry's name and returns it relative and slash-separated, without "."
// or empty components; "" is the package root.
func cleanName(raw string) (string, error) {
	switch {
	case raw == "":
		return "", badEntry(raw, "has an empty name")
	case strings.IndexByte(raw, 0) >= 0:
		return "", badEntry(raw, "has a NUL byte in its name")
	case strings.IndexByte(raw, '\\') >= 0:
		return "", badEntry(raw, "has a backslash in its name")
	case raw[0] == '/', len(raw) >= 2 && raw[1] == ':' && isASCIILetter(raw[0]):
		return "", badEntry(raw, "has an absolute path")
	case len(raw) > maxPathLength:
		return "", badEntry(raw[:64]+"...", "has a path longer than %d bytes", maxPathLength)
	}
	parts := strings.Split(raw, "/")
	out := parts[:0]
	for _, c := range parts {
		switch {
		case c == "" || c == ".":
			continue
		case c == "..":
			return "", badEntry(raw, "has a %q path component", "..")
		case len(c) > maxNameComponent:
			return "", badEntry(raw, "has a name component longer than %d bytes", maxNameComponent)
		}
		out = append(out, c)
	}
	return strings.Join(out, "/"), nil
}

func isASCIILetter(b byte) bool { return 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' }
