package logs

import (
	"errors"
	"strings"
)

// escapeToken turns a log group or stream name into one NATS subject token, reversibly:
// ASCII letters, digits and '-' stay as they are, every other byte becomes '_' and two upper
// case hex digits ("/aws/lambda/f" is "_2Faws_2Flambda_2Ff").
func escapeToken(name string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(name) + len(name)/4)
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('_')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&0xF])
	}
	return b.String()
}

var errBadToken = errors.New("logs: malformed subject token")

// unescapeToken reverses escapeToken.
func unescapeToken(tok string) (string, error) {
	if !strings.Contains(tok, "_") {
		return tok, nil
	}
	var b strings.Builder
	b.Grow(len(tok))
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if c != '_' {
			b.WriteByte(c)
			continue
		}
		if i+2 >= len(tok) {
			return "", errBadToken
		}
		hi, ok1 := unhex(tok[i+1])
		lo, ok2 := unhex(tok[i+2])
		if !ok1 || !ok2 {
			return "", errBadToken
		}
		b.WriteByte(hi<<4 | lo)
		i += 2
	}
	return b.String(), nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// subjects names the subjects of one store: a group's packs (format 2, see pack.go) are on
// "<prefix>.<group>", a stream's packs of format 1 on "<prefix>.<group>.<stream>".
type subjects struct{ prefix string }

// group is the subject of a group's packs.
func (s subjects) group(group string) string {
	return s.prefix + "." + escapeToken(group)
}

// legacyStream is the subject of a stream's format 1 packs.
func (s subjects) legacyStream(group, stream string) string {
	return s.prefix + "." + escapeToken(group) + "." + escapeToken(stream)
}

// legacyGroup matches the subjects of a group's streams' format 1 packs.
func (s subjects) legacyGroup(group string) string {
	return s.prefix + "." + escapeToken(group) + ".*"
}

func (s subjects) all() string { return s.prefix + ".>" }

// parse splits a subject back into its group name and, for a format 1 subject, its stream
// name (empty for a group's subject).
func (s subjects) parse(subject string) (group, stream string, err error) {
	rest, ok := strings.CutPrefix(subject, s.prefix+".")
	if !ok {
		return "", "", errBadToken
	}
	g, st, hasStream := strings.Cut(rest, ".")
	if strings.Contains(st, ".") || hasStream && st == "" {
		return "", "", errBadToken
	}
	if group, err = unescapeToken(g); err != nil {
		return "", "", err
	}
	if hasStream {
		if stream, err = unescapeToken(st); err != nil {
			return "", "", err
		}
	}
	return group, stream, nil
}
