package logs

import "testing"

func TestNamesBecomeOneSubjectTokenAndBack(t *testing.T) {
	sub := subjects{prefix: "logs"}
	tests := []struct{ name, group, stream string }{
		{"a Lambda group and stream", "/aws/lambda/my-fn", "2026/11/23/[$LATEST]0123abcd"},
		{"subject metacharacters", "a.b*c>d", "x y\tz.>"},
		{"underscores and hashes", "/my_group#1", "_2F_"},
		{"non-ASCII text", "/aws/lambda/ünïcode", "流"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			subject := sub.legacyStream(tt.group, tt.stream)
			for _, c := range subject[len("logs."):] {
				if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
					t.Fatalf("subject %q has %q", subject, c)
				}
			}
			g, s, err := sub.parse(subject)
			if err != nil || g != tt.group || s != tt.stream {
				t.Fatalf("parse(%q) = %q, %q, %v; want %q, %q", subject, g, s, err, tt.group, tt.stream)
			}
			if g, s, err := sub.parse(sub.group(tt.group)); err != nil || g != tt.group || s != "" {
				t.Fatalf("parse(group subject) = %q, %q, %v; want %q and no stream", g, s, err, tt.group)
			}
		})
	}
}

func TestMalformedSubjectsAreRefused(t *testing.T) {
	sub := subjects{prefix: "logs"}
	for _, subject := range []string{"other.a.b", "logs.a.", "logs.a.b.c", "logs._ZZ.b", "logs.a._4"} {
		if _, _, err := sub.parse(subject); err == nil {
			t.Errorf("parse(%q) succeeded", subject)
		}
	}
}
