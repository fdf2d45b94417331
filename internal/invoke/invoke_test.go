package invoke_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/ember-serverless/ember/internal/invoke"
	"github.com/ember-serverless/ember/internal/lambdaerr"
)

func TestParseTypeAcceptsLambdasInvocationTypesOnly(t *testing.T) {
	cases := []struct {
		name, in string
		want     invoke.Type
		ok       bool
	}{
		{"no header is RequestResponse", "", invoke.RequestResponse, true},
		{"RequestResponse is itself", "RequestResponse", invoke.RequestResponse, true},
		{"Event is itself", "Event", invoke.Event, true},
		{"DryRun is itself", "DryRun", invoke.DryRun, true},
		{"another word is a ValidationException", "Later", "", false},
		{"the enum is case-sensitive", "event", "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := invoke.ParseType(tc.in)
			if tc.ok {
				if err != nil || got != tc.want {
					t.Fatalf("ParseType(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
				}
				return
			}
			var le *lambdaerr.Error
			if !errors.As(err, &le) || le.Type != lambdaerr.Validation ||
				le.Message != "1 validation error detected: Value '"+tc.in+"' at 'invocationType' failed to satisfy constraint: Member must satisfy enum value set: [Event, RequestResponse, DryRun]" {
				t.Fatalf("ParseType(%q) error %v, want Lambda's enum error", tc.in, err)
			}
		})
	}
}

func TestErrorDocumentIsLambdasShape(t *testing.T) {
	b := invoke.ErrorDocument(invoke.SandboxTimedout, `RequestId: r Error: "quoted" <and> escaped`)
	var doc map[string]string
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%s is not JSON: %v", b, err)
	}
	if len(doc) != 2 || doc["errorType"] != "Sandbox.Timedout" || doc["errorMessage"] != `RequestId: r Error: "quoted" <and> escaped` {
		t.Errorf("got %s, want exactly errorType and errorMessage", b)
	}
}
