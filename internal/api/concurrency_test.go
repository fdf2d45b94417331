package api_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

func TestFunctionConcurrencyOnTheWire(t *testing.T) {
	f := newFixture(t)
	f.create(t, "c")
	put := func(body string) (int, string) {
		rec := f.do(t, "PUT", "/2017-10-31/functions/c/concurrency", []byte(body), nil)
		return rec.Code, rec.Body.String()
	}
	if code, body := put(`{"ReservedConcurrentExecutions":5}`); code != http.StatusOK || body != `{"ReservedConcurrentExecutions":5}` {
		t.Fatalf("PutFunctionConcurrency: %d %s", code, body)
	}
	rec := f.do(t, "GET", "/2019-09-30/functions/c/concurrency", nil, nil)
	if rec.Code != http.StatusOK || rec.Body.String() != `{"ReservedConcurrentExecutions":5}` {
		t.Errorf("GetFunctionConcurrency: %d %s", rec.Code, rec.Body)
	}
	rec = f.do(t, "GET", "/2015-03-31/functions/c", nil, nil)
	var got struct {
		Concurrency *struct{ ReservedConcurrentExecutions int }
	}
	if json.Unmarshal(rec.Body.Bytes(), &got); got.Concurrency == nil || got.Concurrency.ReservedConcurrentExecutions != 5 {
		t.Errorf("GetFunction's Concurrency: %s", rec.Body)
	}
	if rec := f.do(t, "POST", "/2015-03-31/functions/c/versions", []byte(`{}`), nil); rec.Code != http.StatusCreated {
		t.Fatalf("PublishVersion: %d %s", rec.Code, rec.Body)
	}
	rec = f.do(t, "GET", "/2015-03-31/functions/c?Qualifier=1", nil, nil)
	got.Concurrency = nil
	if json.Unmarshal(rec.Body.Bytes(), &got); got.Concurrency == nil || got.Concurrency.ReservedConcurrentExecutions != 5 {
		t.Errorf("GetFunction of version 1 has not the function's Concurrency: %s", rec.Body)
	}
	rec = f.do(t, "GET", "/2016-08-19/account-settings", nil, nil)
	var acct struct {
		AccountLimit struct{ ConcurrentExecutions, UnreservedConcurrentExecutions int }
	}
	if json.Unmarshal(rec.Body.Bytes(), &acct); acct.AccountLimit.ConcurrentExecutions != 1000 || acct.AccountLimit.UnreservedConcurrentExecutions != 995 {
		t.Errorf("GetAccountSettings: %s, want 1000 and 995 unreserved", rec.Body)
	}
	code, _ := put(`{"ReservedConcurrentExecutions":901}`)
	if code != http.StatusBadRequest {
		t.Errorf("a reservation leaving 99 unreserved: %d, want 400", code)
	}
	rec = f.do(t, "PUT", "/2017-10-31/functions/c/concurrency", []byte(`{"ReservedConcurrentExecutions":901}`), nil)
	if typ, msg := wireError(t, rec); typ != "InvalidParameterValueException" || !strings.Contains(msg, "below its minimum value of [100]") {
		t.Errorf("got %s %q", typ, msg)
	}
	if rec := f.do(t, "DELETE", "/2017-10-31/functions/c/concurrency", nil, nil); rec.Code != http.StatusNoContent {
		t.Errorf("DeleteFunctionConcurrency: %d %s", rec.Code, rec.Body)
	}
	rec = f.do(t, "GET", "/2019-09-30/functions/c/concurrency", nil, nil)
	if rec.Code != http.StatusOK || rec.Body.String() != `{}` {
		t.Errorf("GetFunctionConcurrency without a reservation: %d %s, want {}", rec.Code, rec.Body)
	}
	rec = f.do(t, "GET", "/2015-03-31/functions/c", nil, nil)
	if strings.Contains(rec.Body.String(), "Concurrency") {
		t.Errorf("GetFunction without a reservation has Concurrency: %s", rec.Body)
	}
	if rec := f.do(t, "GET", "/2019-09-30/functions/nope/concurrency", nil, nil); rec.Code != http.StatusNotFound {
		t.Errorf("GetFunctionConcurrency of an unknown function: %d", rec.Code)
	}
}
