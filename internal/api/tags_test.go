package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

const fnARN = "arn:aws:lambda:us-east-1:000000000000:function:"

func tagsPath(name string) string { return "/2017-03-31/tags/" + url.PathEscape(fnARN+name) }

func listTags(t *testing.T, f *fixture, name string) map[string]string {
	t.Helper()
	rec := f.do(t, "GET", tagsPath(name), nil, nil)
	if rec.Code != http.StatusOK {
		t.Fatalf("ListTags: %d %s", rec.Code, rec.Body)
	}
	var out struct{ Tags map[string]string }
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || out.Tags == nil {
		t.Fatalf("ListTags body %s: %v", rec.Body, err)
	}
	return out.Tags
}

func TestTagsAreAddedReplacedAndRemoved(t *testing.T) {
	f := newFixture(t)
	f.create(t, "tagged")
	if got := listTags(t, f, "tagged"); len(got) != 0 {
		t.Fatalf("new function has tags %v", got)
	}
	rec := f.do(t, "POST", tagsPath("tagged"), mustJSON(map[string]any{"Tags": map[string]string{"team": "a", "env": "dev"}}), nil)
	if rec.Code != http.StatusNoContent {
		t.Fatalf("TagResource: %d %s", rec.Code, rec.Body)
	}
	rec = f.do(t, "POST", tagsPath("tagged"), mustJSON(map[string]any{"Tags": map[string]string{"env": "prod", "empty": ""}}), nil)
	if rec.Code != http.StatusNoContent {
		t.Fatalf("TagResource: %d %s", rec.Code, rec.Body)
	}
	want := map[string]string{"team": "a", "env": "prod", "empty": ""}
	if got := listTags(t, f, "tagged"); !reflect.DeepEqual(got, want) {
		t.Fatalf("tags %v, want %v", got, want)
	}
	rec = f.do(t, "GET", "/2015-03-31/functions/tagged", nil, nil)
	var gf struct{ Tags map[string]string }
	if err := json.Unmarshal(rec.Body.Bytes(), &gf); err != nil || !reflect.DeepEqual(gf.Tags, want) {
		t.Fatalf("GetFunction Tags %v (%v), want %v", gf.Tags, err, want)
	}
	rec = f.do(t, "DELETE", tagsPath("tagged")+"?tagKeys=team&tagKeys=absent", nil, nil)
	if rec.Code != http.StatusNoContent {
		t.Fatalf("UntagResource: %d %s", rec.Code, rec.Body)
	}
	want = map[string]string{"env": "prod", "empty": ""}
	if got := listTags(t, f, "tagged"); !reflect.DeepEqual(got, want) {
		t.Fatalf("after untag: tags %v, want %v", got, want)
	}
}

func TestTagErrorsAreRenderedAsLambdaDoes(t *testing.T) {
	f := newFixture(t)
	f.create(t, "tagged")
	many := map[string]string{}
	for i := range 49 {
		many[fmt.Sprint("k", i)] = "v"
	}
	if rec := f.do(t, "POST", tagsPath("tagged"), mustJSON(map[string]any{"Tags": many}), nil); rec.Code != http.StatusNoContent {
		t.Fatalf("49 tags: %d %s", rec.Code, rec.Body)
	}
	tags := func(m map[string]string) []byte { return mustJSON(map[string]any{"Tags": m}) }
	tests := []struct {
		name, method, path string
		body               []byte
		status             int
		typ, msg           string
	}{
		{"a 51st tag exceeds the limit", "POST", tagsPath("tagged"), tags(map[string]string{"x": "1", "y": "2"}),
			400, "InvalidParameterValueException", "Number of tags exceeds resource tag limit."},
		{"a key with the aws: prefix is reserved", "POST", tagsPath("tagged"), tags(map[string]string{"aws:team": "a"}),
			400, "InvalidParameterValueException", "Tag keys cannot start with 'aws:'"},
		{"an empty key is too short", "POST", tagsPath("tagged"), tags(map[string]string{"": "a"}),
			400, "InvalidParameterValueException", "Member must have length greater than or equal to 1"},
		{"a 129-character key is too long", "POST", tagsPath("tagged"), tags(map[string]string{strings.Repeat("k", 129): "a"}),
			400, "InvalidParameterValueException", "Member must have length less than or equal to 128"},
		{"a 257-character value is too long", "POST", tagsPath("tagged"), tags(map[string]string{"k": strings.Repeat("v", 257)}),
			400, "InvalidParameterValueException", "Member must have length less than or equal to 256"},
		{"a body without Tags is refused", "POST", tagsPath("tagged"), []byte(`{}`),
			400, "ValidationException", "Value null at 'tags'"},
		{"tags on a missing function are not found", "GET", tagsPath("missing"), nil,
			404, "ResourceNotFoundException", "Function not found: " + fnARN + "missing"},
		{"tagging a missing function is not found", "POST", tagsPath("missing"), tags(map[string]string{"a": "b"}),
			404, "ResourceNotFoundException", "Function not found: " + fnARN + "missing"},
		{"a version ARN cannot be tagged", "POST", tagsPath("tagged:1"), tags(map[string]string{"a": "b"}),
			400, "InvalidParameterValueException", "Tags on function aliases and versions are not supported"},
		{"a bare name is not an ARN", "GET", "/2017-03-31/tags/tagged", nil,
			400, "ValidationException", "at 'resource' failed to satisfy constraint"},
		{"untagging without keys is refused", "DELETE", tagsPath("tagged"), nil,
			400, "ValidationException", "tagKeys"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := f.do(t, tt.method, tt.path, tt.body, nil)
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.status, rec.Body)
			}
			typ, msg := wireError(t, rec)
			if typ != tt.typ || !strings.Contains(msg, tt.msg) {
				t.Errorf("got %s %q, want %s containing %q", typ, msg, tt.typ, tt.msg)
			}
		})
	}
	if got := listTags(t, f, "tagged"); !reflect.DeepEqual(got, many) {
		t.Errorf("refused requests changed the tags: %d tags", len(got))
	}
}
