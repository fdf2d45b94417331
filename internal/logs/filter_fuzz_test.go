package logs

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// FuzzFilterPattern checks the filter pattern parser on any text: it never panics; it either
// compiles or refuses with InvalidParameterException; a compiled pattern holds no empty term;
// written back out (each term quoted, with its - or ? in front) it compiles to the same
// pattern; a pattern of spaces matches every message; and a message made of the pattern's
// required and optional terms matches exactly when it holds none of its excluded ones.
func FuzzFilterPattern(f *testing.F) {
	for _, p := range []string{
		"", "   ", "ERROR", "ERROR timeout", `"request failed"`, "ERROR -retry", "?ERROR ?WARN", `?"a b" -"c d" e`,
		`{ $.level = "error" }`, "[ip, user, ...]", `"unterminated`, `-`, `?`, `--x`, `??x`, `a"b`, "\tERROR\t\"x\"",
		`-"" ?"" ""`, "x -x", "é ?ü",
	} {
		f.Add(p, "ERROR: request failed, retry in 1s")
	}
	f.Fuzz(func(t *testing.T, text, msg string) {
		p, err := compilePattern(text)
		if err != nil {
			var le *Error
			if !errors.As(err, &le) || le.Type != InvalidParameter {
				t.Fatalf("compilePattern(%q) failed with %v (%T), want InvalidParameterException", text, err, err)
			}
			return
		}
		for _, term := range slices.Concat(p.all, p.none, p.any) {
			if term == "" {
				t.Fatalf("compilePattern(%q) holds an empty term: %+v", text, p)
			}
		}
		if canonical, ok := render(p); ok {
			again, err := compilePattern(canonical)
			if err != nil || !slices.Equal(again.all, p.all) || !slices.Equal(again.none, p.none) || !slices.Equal(again.any, p.any) {
				t.Fatalf("compilePattern(%q) = %+v, written out as %q compiles to %+v, %v", text, p, canonical, again, err)
			}
		}
		if strings.TrimSpace(text) == "" && !p.match(msg) {
			t.Fatalf("the blank pattern %q did not match %q", text, msg)
		}
		made := strings.Join(slices.Concat(p.all, p.any), " ")
		excluded := slices.ContainsFunc(p.none, func(term string) bool { return strings.Contains(made, term) })
		if p.match(made) == excluded {
			t.Fatalf("pattern %q (%+v) on %q, made of its terms: match %v, holds an excluded term %v", text, p, made, p.match(made), excluded)
		}
	})
}

// render writes a compiled pattern back out as text, each term quoted, or reports that it
// cannot (a term holding a quote cannot be quoted).
func render(p *pattern) (string, bool) {
	var b strings.Builder
	for _, group := range []struct {
		prefix string
		terms  []string
	}{{"", p.all}, {"-", p.none}, {"?", p.any}} {
		for _, term := range group.terms {
			if strings.Contains(term, `"`) {
				return "", false
			}
			b.WriteString(group.prefix + `"` + term + `" `)
		}
	}
	return b.String(), true
}
