package api_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/ember-serverless/ember/internal/control/controltest"
)

// FuzzCreateFunctionRequest checks that no CreateFunction body makes the server answer 500 or
// panic.
func FuzzCreateFunctionRequest(f *testing.F) {
	zip := controltest.Zip(f, map[string]string{"bootstrap": "x"})
	f.Add([]byte(`{"FunctionName":"fn","Runtime":"provided.al2023","Role":"` + role + `","Code":{"ZipFile":"UEsDBA=="}}`))
	f.Add(mustJSON(map[string]any{"FunctionName": "ok", "Runtime": "provided.al2", "Role": role, "Code": map[string]any{"ZipFile": zip},
		"MemorySize": 512, "Environment": map[string]any{"Variables": map[string]string{"A_B": "c"}}}))
	f.Add([]byte(`{"FunctionName":"arn:aws:lambda:us-east-1:000000000000:function:x:1","Timeout":-1,"Architectures":[]}`))
	f.Add([]byte(`{"Code":{"S3Bucket":"b"},"VpcConfig":{"SubnetIds":["s"]},"Layers":["l"],"Tags":{"":""}}`))
	f.Add([]byte(`{"MemorySize":"big","Environment":null,"LoggingConfig":{"LogFormat":"XML"}}`))
	f.Add([]byte(`[]`))
	f.Add([]byte{})
	fx := newFixture(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest("POST", "/2015-03-31/functions", bytes.NewReader(body))
		rec := httptest.NewRecorder()
		fx.handler.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("body %q: status %d %s", body, rec.Code, rec.Body)
		}
	})
}

// FuzzInvokeHeaders checks that no function name, query, header or payload of an Invoke makes
// the server answer 500 or panic.
func FuzzInvokeHeaders(f *testing.F) {
	f.Add("fn", "", "RequestResponse", "None", "", []byte(`{}`))
	f.Add("arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Afn", "Qualifier=%24LATEST", "Event", "Tail", "eyJhIjoxfQ==", []byte(`[1,2]`))
	f.Add("000000000000:function:fn:1", "Qualifier=2", "DryRun", "", "e30", []byte(`nope`))
	f.Add("fn", "Qualifier=%zz", "x", "y", "%%%", []byte("\xff"))
	fx := newFixture(f)
	fx.create(f, "fn")
	f.Fuzz(func(t *testing.T, name, query, invType, logType, clientCtx string, payload []byte) {
		target := "/2015-03-31/functions/" + name + "/invocations"
		if query != "" {
			target += "?" + query
		}
		req, err := http.NewRequest("POST", "http://example.com/", bytes.NewReader(payload))
		if err != nil {
			t.Skip()
		}
		if err := setTarget(req, target); err != nil {
			t.Skip()
		}
		for k, v := range map[string]string{"X-Amz-Invocation-Type": invType, "X-Amz-Log-Type": logType, "X-Amz-Client-Context": clientCtx} {
			if v != "" {
				req.Header[k] = []string{v}
			}
		}
		rec := httptest.NewRecorder()
		fx.handler.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %v: status %d %s", target, req.Header, rec.Code, rec.Body)
		}
	})
}

// setTarget points req at a raw request target, as a server would parse it.
func setTarget(req *http.Request, target string) error {
	u, err := req.URL.Parse(target)
	if err != nil {
		return err
	}
	req.URL = u
	req.RequestURI = target
	return nil
}
