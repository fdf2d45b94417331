package api_test

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"testing"
)

// fuzzBody fuzzes one operation's JSON body: no body may make the server panic or answer 500,
// an error answer must be a Lambda error (its type in the header and body), and a refused
// request must change nothing (the function's RevisionId is the same after it). Seeds are
// checked in under testdata/fuzz/<target>.
func fuzzBody(f *testing.F, method, path string, fx *fixture) {
	f.Helper()
	revision := func(t *testing.T) string {
		rec := httptest.NewRecorder()
		fx.handler.ServeHTTP(rec, httptest.NewRequest("GET", "/2015-03-31/functions/fn/configuration", nil))
		var c struct{ RevisionId string }
		if err := json.Unmarshal(rec.Body.Bytes(), &c); err != nil || c.RevisionId == "" {
			t.Fatalf("configuration of fn: %d %s", rec.Code, rec.Body)
		}
		return c.RevisionId
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		before := revision(t)
		req := httptest.NewRequest(method, path, bytes.NewReader(body))
		rec := httptest.NewRecorder()
		fx.handler.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("body %q: status %d %s", body, rec.Code, rec.Body)
		}
		if rec.Code >= 400 {
			var e struct {
				Message string
				Type    string `json:"__type"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Type == "" || e.Type != rec.Header().Get("X-Amzn-Errortype") {
				t.Fatalf("body %q: error answer %d %s is not Lambda's shape", body, rec.Code, rec.Body)
			}
			if after := revision(t); after != before {
				t.Fatalf("body %q was refused (%d %s) but changed fn's revision", body, rec.Code, rec.Body)
			}
		}
	})
}

func fuzzFixture(f *testing.F) *fixture {
	fx := newFixture(f)
	fx.create(f, "fn")
	return fx
}

// FuzzUpdateFunctionConfigurationRequest fuzzes UpdateFunctionConfiguration's body.
func FuzzUpdateFunctionConfigurationRequest(f *testing.F) {
	f.Add([]byte(`{"MemorySize":256,"Timeout":30,"Environment":{"Variables":{"A_B":"c"}}}`))
	fuzzBody(f, "PUT", "/2015-03-31/functions/fn/configuration", fuzzFixture(f))
}

// FuzzUpdateFunctionCodeRequest fuzzes UpdateFunctionCode's body.
func FuzzUpdateFunctionCodeRequest(f *testing.F) {
	f.Add([]byte(`{"ZipFile":"UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA==","Architectures":["x86_64"]}`))
	fuzzBody(f, "PUT", "/2015-03-31/functions/fn/code", fuzzFixture(f))
}

// FuzzAddPermissionRequest fuzzes AddPermission's body.
func FuzzAddPermissionRequest(f *testing.F) {
	f.Add([]byte(`{"StatementId":"s3","Action":"lambda:InvokeFunction","Principal":"s3.amazonaws.com","SourceArn":"arn:aws:s3:::b"}`))
	fuzzBody(f, "POST", "/2015-03-31/functions/fn/policy", fuzzFixture(f))
}

// FuzzTagResourceRequest fuzzes TagResource's body.
func FuzzTagResourceRequest(f *testing.F) {
	f.Add([]byte(`{"Tags":{"env":"prod"}}`))
	fuzzBody(f, "POST", "/2017-03-31/tags/arn:aws:lambda:us-east-1:000000000000:function:fn", fuzzFixture(f))
}

// FuzzPutRuntimeManagementConfigRequest fuzzes PutRuntimeManagementConfig's body.
func FuzzPutRuntimeManagementConfigRequest(f *testing.F) {
	f.Add([]byte(`{"UpdateRuntimeOn":"Manual","RuntimeVersionArn":"arn:aws:lambda:us-east-1::runtime:abc"}`))
	fuzzBody(f, "PUT", "/2021-07-20/functions/fn/runtime-management-config", fuzzFixture(f))
}

// FuzzPublishVersionRequest fuzzes PublishVersion's body.
func FuzzPublishVersionRequest(f *testing.F) {
	f.Add([]byte(`{"Description":"v1"}`))
	fuzzBody(f, "POST", "/2015-03-31/functions/fn/versions", fuzzFixture(f))
}

// FuzzCreateAliasRequest fuzzes CreateAlias's body.
func FuzzCreateAliasRequest(f *testing.F) {
	f.Add([]byte(`{"Name":"live","FunctionVersion":"$LATEST"}`))
	fuzzBody(f, "POST", "/2015-03-31/functions/fn/aliases", fuzzFixture(f))
}

// FuzzUpdateAliasRequest fuzzes UpdateAlias's body.
func FuzzUpdateAliasRequest(f *testing.F) {
	f.Add([]byte(`{"FunctionVersion":"$LATEST","RoutingConfig":{"AdditionalVersionWeights":{"1":0.5}}}`))
	fuzzBody(f, "PUT", "/2015-03-31/functions/fn/aliases/live", fuzzFixture(f))
}

// FuzzPutEventInvokeConfigRequest fuzzes PutFunctionEventInvokeConfig's body (the model's
// checks; the fixture has no asynchronous path behind them).
func FuzzPutEventInvokeConfigRequest(f *testing.F) {
	f.Add([]byte(`{"MaximumRetryAttempts":1,"MaximumEventAgeInSeconds":60,"DestinationConfig":{"OnFailure":{"Destination":"arn:aws:nats:us-east-1:000000000000:subject:x"}}}`))
	fuzzBody(f, "PUT", "/2019-09-25/functions/fn/event-invoke-config", fuzzFixture(f))
}

// FuzzPublishLayerVersionRequest fuzzes PublishLayerVersion's body. A layer does not touch
// fn, so the unchanged-revision check holds trivially; the others do the work.
func FuzzPublishLayerVersionRequest(f *testing.F) {
	f.Add([]byte(`{"Content":{"ZipFile":"UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA=="},"CompatibleRuntimes":["python3.12"],"CompatibleArchitectures":["x86_64"]}`))
	fx := layersFixture(f)
	fx.create(f, "fn")
	fuzzBody(f, "POST", "/2018-10-31/layers/l/versions", fx)
}
