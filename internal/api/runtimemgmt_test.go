package api_test

import (
	"net/http"
	"strings"
	"testing"
)

func TestRuntimeManagementConfigIsStoredAndChecked(t *testing.T) {
	f := newFixture(t)
	f.create(t, "pinned")
	const path = "/2021-07-20/functions/pinned/runtime-management-config"
	const version = "arn:aws:lambda:us-east-1::runtime:0123abcd"
	steps := []struct {
		name, method string
		body         []byte
		status       int
		want         string // the body, or the error's type and message
	}{
		{"a new function updates its runtime automatically", "GET", nil, 200,
			`{"UpdateRuntimeOn":"Auto","FunctionArn":"` + fnARN + `pinned"}`},
		{"Manual pins the runtime version", "PUT", mustJSON(map[string]string{"UpdateRuntimeOn": "Manual", "RuntimeVersionArn": version}), 200,
			`{"UpdateRuntimeOn":"Manual","RuntimeVersionArn":"` + version + `","FunctionArn":"` + fnARN + `pinned"}`},
		{"the pinned version is read back", "GET", nil, 200,
			`{"UpdateRuntimeOn":"Manual","RuntimeVersionArn":"` + version + `","FunctionArn":"` + fnARN + `pinned"}`},
		{"Manual without a version is refused", "PUT", mustJSON(map[string]string{"UpdateRuntimeOn": "Manual"}), 400,
			"InvalidParameterValueException RuntimeVersionArn is required when UpdateRuntimeOn is Manual."},
		{"a version with Auto is refused", "PUT", mustJSON(map[string]string{"UpdateRuntimeOn": "Auto", "RuntimeVersionArn": version}), 400,
			"InvalidParameterValueException RuntimeVersionArn can only be provided when UpdateRuntimeOn is Manual."},
		{"an unknown mode is refused", "PUT", mustJSON(map[string]string{"UpdateRuntimeOn": "Never"}), 400,
			"ValidationException 1 validation error detected: Value 'Never' at 'updateRuntimeOn' failed to satisfy constraint: Member must satisfy enum value set: [Auto, Manual, FunctionUpdate]"},
		{"a version that is not a runtime ARN is refused", "PUT", mustJSON(map[string]string{"UpdateRuntimeOn": "Manual", "RuntimeVersionArn": "v1"}), 400,
			"ValidationException 2 validation errors detected: Value 'v1' at 'runtimeVersionArn' failed to satisfy constraint: Member must have length greater than or equal to 26; Value 'v1' at 'runtimeVersionArn'"},
		{"refused requests left the pin alone", "GET", nil, 200,
			`{"UpdateRuntimeOn":"Manual","RuntimeVersionArn":"` + version + `","FunctionArn":"` + fnARN + `pinned"}`},
		{"FunctionUpdate drops the pin", "PUT", mustJSON(map[string]string{"UpdateRuntimeOn": "FunctionUpdate"}), 200,
			`{"UpdateRuntimeOn":"FunctionUpdate","FunctionArn":"` + fnARN + `pinned"}`},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			rec := f.do(t, s.method, path, s.body, nil)
			if rec.Code != s.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, s.status, rec.Body)
			}
			if rec.Code != http.StatusOK {
				typ, msg := wireError(t, rec)
				if got := typ + " " + msg; !strings.HasPrefix(got, s.want) {
					t.Errorf("got %q, want %q", got, s.want)
				}
				return
			}
			if got := rec.Body.String(); got != s.want {
				t.Errorf("body %s, want %s", got, s.want)
			}
		})
	}
	if rec := f.do(t, "GET", "/2021-07-20/functions/missing/runtime-management-config", nil, nil); rec.Code != http.StatusNotFound {
		t.Errorf("missing function: %d %s", rec.Code, rec.Body)
	}
}
