package logs

import (
	"errors"
	"testing"
)

func TestFilterPatternsMatchLikeCloudWatch(t *testing.T) {
	tests := []struct {
		name, pattern, msg string
		want               bool
	}{
		{"an empty pattern matches everything", "", "anything", true},
		{"a term matches a message containing it", "ERROR", "[ERROR] boom", true},
		{"a term does not match a message lacking it", "ERROR", "INFO fine", false},
		{"matching is case-sensitive", "error", "ERROR", false},
		{"all terms must appear, in any order", "boom ERROR", "ERROR: boom", true},
		{"one missing term fails the match", "ERROR crash", "ERROR: boom", false},
		{"a quoted phrase must appear as written", `"request failed"`, "the request failed", true},
		{"a quoted phrase does not match its words apart", `"request failed"`, "failed request", false},
		{"a minus term excludes", "ERROR -retry", "ERROR will retry", false},
		{"a minus term lets others through", "ERROR -retry", "ERROR fatal", true},
		{"question-mark terms are alternatives", "?ERROR ?WARN", "WARN low disk", true},
		{"no alternative appearing fails the match", "?ERROR ?WARN", "INFO ok", false},
		{"a quoted alternative", `?"time out" ?panic`, "it did time out", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := compilePattern(tt.pattern)
			if err != nil {
				t.Fatal(err)
			}
			if got := p.match(tt.msg); got != tt.want {
				t.Fatalf("%q on %q = %v, want %v", tt.pattern, tt.msg, got, tt.want)
			}
		})
	}
}

func TestUnsupportedFilterPatternsAreInvalidParameters(t *testing.T) {
	for _, p := range []string{`{ $.level = "error" }`, "[ip, user]", `"unterminated`} {
		if _, err := compilePattern(p); !errors.Is(err, &Error{Type: InvalidParameter}) {
			t.Errorf("compilePattern(%q) = %v, want InvalidParameterException", p, err)
		}
	}
}
