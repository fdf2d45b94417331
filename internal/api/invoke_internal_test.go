package api

import (
	"net/http"
	"testing"

	"github.com/ember-serverless/ember/internal/control"
)

func TestDecodingAPlainInvokeAllocatesOnlyTheRequest(t *testing.T) {
	s := &Server{names: control.Config{Region: "us-east-1", AccountID: "000000000000"}}
	h := http.Header{"X-Amz-Invocation-Type": {"RequestResponse"}, "X-Amz-Log-Type": {"None"}}
	body := []byte(`{"key":"value","n":[1,2,3]}`)
	allocs := testing.AllocsPerRun(200, func() {
		if _, err := s.decodeInvoke("arn:aws:lambda:us-east-1:000000000000:function:fn", "", h, body); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 1 {
		t.Errorf("%v allocations per decode, want at most 1", allocs)
	}
}
