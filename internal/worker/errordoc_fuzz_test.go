package worker

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/ember-serverless/ember/internal/invoke"
)

// FuzzErrorDocument posts what a runtime might to /error (a body and a
// Lambda-Runtime-Function-Error-Type header) and checks what the sandbox keeps: never a panic;
// always a JSON document and an error type; the header's type (made valid UTF-8) when the
// runtime set one, else the document's own errorType, else Runtime.Unknown; a JSON document
// passed on as the runtime wrote it; and anything else wrapped as the errorMessage of a
// document of that same type.
func FuzzErrorDocument(f *testing.F) {
	for _, seed := range []struct {
		header string
		body   string
	}{
		{"", `{"errorMessage":"boom","errorType":"TeapotError","stackTrace":["main.go:12"]}`},
		{"Function.Custom", `{"errorMessage":"boom","errorType":"TeapotError"}`},
		{"", `{"errorMessage":"no type"}`},
		{"", `{"errorType":""}`},
		{"", `{"errorType":42}`},
		{"", `"just a string"`},
		{"", `[1,2,3]`},
		{"", `null`},
		{"Runtime.ExitError", `not json at all`},
		{"", `{"errorMessage":"cut short`},
		{"", "\xff\xfe invalid utf-8"},
		{"", ``},
		{"Unhandled", `{}`},
	} {
		f.Add(seed.header, []byte(seed.body))
	}
	f.Fuzz(func(t *testing.T, header string, body []byte) {
		s := &Sandbox{body: bodyBudget{max: MaxRuntimeBodyBytes}}
		r := httptest.NewRequest("POST", "/2018-06-01/runtime/invocation/id/error", bytes.NewReader(body))
		if header != "" {
			r.Header[hdrErrorType] = []string{header}
		}
		doc, errType, err := s.readErrorDoc(r)
		if err != nil {
			t.Fatalf("readErrorDoc(%q, %q): %v", header, body, err)
		}
		if !json.Valid(doc) {
			t.Fatalf("readErrorDoc(%q, %q) kept %q, not JSON", header, body, doc)
		}
		var own struct {
			ErrorType invoke.ErrorType `json:"errorType"`
		}
		ownErr := json.Unmarshal(body, &own)
		want := invoke.ErrorType(strings.ToValidUTF8(header, "\uFFFD"))
		if want == "" && ownErr == nil {
			want = own.ErrorType
		}
		if want == "" {
			want = invoke.RuntimeUnknown
		}
		if errType != want {
			t.Fatalf("readErrorDoc(%q, %q) gave type %q, want %q", header, body, errType, want)
		}
		if json.Valid(body) {
			if !bytes.Equal(doc, body) {
				t.Fatalf("a JSON document %q was kept as %q, not as the runtime wrote it", body, doc)
			}
			return
		}
		var wrapped struct {
			ErrorType    invoke.ErrorType `json:"errorType"`
			ErrorMessage string           `json:"errorMessage"`
		}
		if err := json.Unmarshal(doc, &wrapped); err != nil || wrapped.ErrorType != errType {
			t.Fatalf("a body that is not JSON, %q, was kept as %q (%v), want a document of type %q", body, doc, err, errType)
		}
		if utf8.Valid(body) && wrapped.ErrorMessage != string(body) {
			t.Fatalf("a body that is not JSON, %q, became the message %q", body, wrapped.ErrorMessage)
		}
	})
}
