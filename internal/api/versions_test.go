package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/ember-serverless/ember/internal/control/controltest"
)

func TestVersionsAndAliasesAreServedOnLambdasPaths(t *testing.T) {
	f := newFixture(t)
	f.create(t, "shipped")
	base := "/2015-03-31/functions/shipped"
	var v struct{ Version, FunctionArn, CodeSha256 string }
	rec := f.do(t, "POST", base+"/versions", mustJSON(map[string]string{"Description": "first"}), nil)
	if rec.Code != http.StatusCreated || json.Unmarshal(rec.Body.Bytes(), &v) != nil || v.Version != "1" || v.FunctionArn != fnARN+"shipped:1" {
		t.Fatalf("PublishVersion: %d %s", rec.Code, rec.Body)
	}
	var list struct {
		Versions   []struct{ Version string }
		NextMarker string
	}
	rec = f.do(t, "GET", base+"/versions?MaxItems=1", nil, nil)
	if json.Unmarshal(rec.Body.Bytes(), &list) != nil || len(list.Versions) != 1 || list.Versions[0].Version != "$LATEST" || list.NextMarker == "" {
		t.Fatalf("ListVersionsByFunction page 1: %d %s", rec.Code, rec.Body)
	}
	rec = f.do(t, "GET", base+"/versions?MaxItems=1&Marker="+list.NextMarker, nil, nil)
	list.NextMarker = ""
	if json.Unmarshal(rec.Body.Bytes(), &list) != nil || len(list.Versions) != 1 || list.Versions[0].Version != "1" || list.NextMarker != "" {
		t.Fatalf("ListVersionsByFunction page 2: %d %s", rec.Code, rec.Body)
	}

	rec = f.do(t, "POST", base+"/aliases", mustJSON(map[string]string{"Name": "live", "FunctionVersion": "1"}), nil)
	var alias struct{ AliasArn, Name, FunctionVersion, RevisionId string }
	if rec.Code != http.StatusCreated || json.Unmarshal(rec.Body.Bytes(), &alias) != nil || alias.AliasArn != fnARN+"shipped:live" {
		t.Fatalf("CreateAlias: %d %s", rec.Code, rec.Body)
	}
	rec = f.do(t, "GET", base+"/configuration?Qualifier=live", nil, nil)
	if json.Unmarshal(rec.Body.Bytes(), &v) != nil || v.Version != "1" || v.FunctionArn != fnARN+"shipped:live" {
		t.Fatalf("GetFunctionConfiguration through the alias: %d %s", rec.Code, rec.Body)
	}
	tests := []struct {
		name, method, path string
		body               []byte
		status             int
		typ                string
	}{
		{"an alias that exists is a conflict", "POST", base + "/aliases", mustJSON(map[string]string{"Name": "live", "FunctionVersion": "1"}),
			409, "ResourceConflictException"},
		{"an alias of a missing version is not found", "POST", base + "/aliases", mustJSON(map[string]string{"Name": "next", "FunctionVersion": "4"}),
			404, "ResourceNotFoundException"},
		{"a stale RevisionId is refused", "PUT", base + "/aliases/live", mustJSON(map[string]string{"RevisionId": "stale"}),
			412, "PreconditionFailedException"},
		{"a version an alias points at cannot be deleted", "DELETE", base + "?Qualifier=1", nil, 409, "ResourceConflictException"},
		{"a qualifier in the name and a different one in the query conflict", "GET", "/2015-03-31/functions/shipped:1/configuration?Qualifier=live", nil,
			400, "InvalidParameterValueException"},
		{"a missing alias is not found", "GET", base + "/aliases/nope", nil, 404, "ResourceNotFoundException"},
		{"MaxItems out of range is refused", "GET", base + "/aliases?MaxItems=0", nil, 400, "ValidationException"},
	}
	for _, c := range tests {
		t.Run(c.name, func(t *testing.T) {
			rec := f.do(t, c.method, c.path, c.body, nil)
			if typ, msg := wireError(t, rec); rec.Code != c.status || typ != c.typ {
				t.Errorf("%d %s %s, want %d %s", rec.Code, typ, msg, c.status, c.typ)
			}
		})
	}

	rec = f.do(t, "PUT", base+"/aliases/live", mustJSON(map[string]any{"FunctionVersion": "$LATEST", "RevisionId": alias.RevisionId}), nil)
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &alias) != nil || alias.FunctionVersion != "$LATEST" {
		t.Fatalf("UpdateAlias: %d %s", rec.Code, rec.Body)
	}
	var aliases struct{ Aliases []struct{ Name string } }
	rec = f.do(t, "GET", base+"/aliases?FunctionVersion=$LATEST", nil, nil)
	if json.Unmarshal(rec.Body.Bytes(), &aliases) != nil || len(aliases.Aliases) != 1 || aliases.Aliases[0].Name != "live" {
		t.Fatalf("ListAliases: %d %s", rec.Code, rec.Body)
	}
	for _, path := range []string{base + "/aliases/live", base + "?Qualifier=1"} {
		if rec := f.do(t, "DELETE", path, nil, nil); rec.Code != http.StatusNoContent {
			t.Fatalf("DELETE %s: %d %s", path, rec.Code, rec.Body)
		}
	}
	if rec := f.do(t, "GET", base+"?Qualifier=1", nil, nil); rec.Code != http.StatusNotFound {
		t.Errorf("GetFunction of a deleted version: %d %s", rec.Code, rec.Body)
	}
}

func TestAVersionsCodeLocationServesItsOwnPackage(t *testing.T) {
	f := newFixture(t)
	f.create(t, "kept")
	if rec := f.do(t, "POST", "/2015-03-31/functions/kept/versions", nil, nil); rec.Code != http.StatusCreated {
		t.Fatalf("PublishVersion: %d %s", rec.Code, rec.Body)
	}
	v1, _ := f.registry.Version("kept", "1")
	newZip := controltest.Zip(t, map[string]string{"bootstrap": "#!/bin/sh\necho new\n"})
	if rec := f.do(t, "PUT", "/2015-03-31/functions/kept/code", mustJSON(map[string]any{"ZipFile": newZip}), nil); rec.Code != http.StatusOK {
		t.Fatalf("UpdateFunctionCode: %d %s", rec.Code, rec.Body)
	}
	var out struct{ Code struct{ Location string } }
	rec := f.do(t, "GET", "/2015-03-31/functions/kept?Qualifier=1", nil, nil)
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || rec.Code != http.StatusOK {
		t.Fatalf("GetFunction of version 1: %d %s", rec.Code, rec.Body)
	}
	rec = f.do(t, "GET", strings.TrimPrefix(out.Code.Location, "http://example.com"), nil, nil)
	want, _ := f.code.Zip(context.Background(), v1.Code)
	if rec.Code != http.StatusOK || !bytes.Equal(rec.Body.Bytes(), want) || bytes.Equal(want, newZip) {
		t.Errorf("version 1's download: %d, %d bytes", rec.Code, rec.Body.Len())
	}
}

func TestListFunctionsWithFunctionVersionALLListsEveryVersion(t *testing.T) {
	f := newFixture(t)
	for _, name := range []string{"a", "b"} {
		f.create(t, name)
		if rec := f.do(t, "POST", "/2015-03-31/functions/"+name+"/versions", nil, nil); rec.Code != http.StatusCreated {
			t.Fatalf("PublishVersion: %d %s", rec.Code, rec.Body)
		}
	}
	list := func(query string) (arns []string, next string) {
		var out struct {
			Functions  []struct{ FunctionArn string }
			NextMarker string
		}
		rec := f.do(t, "GET", "/2015-03-31/functions/?"+query, nil, nil)
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || rec.Code != http.StatusOK {
			t.Fatalf("ListFunctions?%s: %d %s", query, rec.Code, rec.Body)
		}
		for _, fn := range out.Functions {
			arns = append(arns, strings.TrimPrefix(fn.FunctionArn, fnARN))
		}
		return arns, out.NextMarker
	}
	if got, _ := list(""); strings.Join(got, ",") != "a,b" {
		t.Errorf("without FunctionVersion: %v", got)
	}
	var got []string
	for marker := "first"; marker != ""; {
		q := "FunctionVersion=ALL&MaxItems=3"
		if marker != "first" {
			q += "&Marker=" + marker
		}
		var page []string
		page, marker = list(q)
		got = append(got, page...)
	}
	if strings.Join(got, ",") != "a:$LATEST,a:1,b:$LATEST,b:1" {
		t.Errorf("with FunctionVersion=ALL, in pages of 3: %v", got)
	}
}
