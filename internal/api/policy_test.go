package api_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

func getPolicy(t *testing.T, f *fixture, name string) (policy, rev string) {
	t.Helper()
	rec := f.do(t, "GET", "/2015-03-31/functions/"+name+"/policy", nil, nil)
	if rec.Code != http.StatusOK {
		t.Fatalf("GetPolicy: %d %s", rec.Code, rec.Body)
	}
	var out struct{ Policy, RevisionId string }
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	return out.Policy, out.RevisionId
}

func TestPermissionsBuildThePolicyDocumentLambdaReturns(t *testing.T) {
	f := newFixture(t)
	f.create(t, "guarded")
	rec := f.do(t, "POST", "/2015-03-31/functions/guarded/policy", mustJSON(map[string]string{
		"StatementId": "s3", "Action": "lambda:InvokeFunction", "Principal": "s3.amazonaws.com",
		"SourceArn": "arn:aws:s3:::bucket", "SourceAccount": "123456789012"}), nil)
	if rec.Code != http.StatusCreated {
		t.Fatalf("AddPermission: %d %s", rec.Code, rec.Body)
	}
	wantS3 := `{"Sid":"s3","Effect":"Allow","Principal":{"Service":"s3.amazonaws.com"},"Action":"lambda:InvokeFunction",` +
		`"Resource":"` + fnARN + `guarded","Condition":{"StringEquals":{"AWS:SourceAccount":"123456789012"},"ArnLike":{"AWS:SourceArn":"arn:aws:s3:::bucket"}}}`
	var added struct{ Statement string }
	if err := json.Unmarshal(rec.Body.Bytes(), &added); err != nil || added.Statement != wantS3 {
		t.Fatalf("Statement %s (%v), want %s", added.Statement, err, wantS3)
	}
	_, rev := getPolicy(t, f, "guarded")
	rec = f.do(t, "POST", "/2015-03-31/functions/guarded/policy", mustJSON(map[string]string{
		"StatementId": "acct", "Action": "lambda:GetFunction", "Principal": "210987654321",
		"PrincipalOrgID": "o-abcdefghij", "FunctionUrlAuthType": "NONE", "RevisionId": rev}), nil)
	if rec.Code != http.StatusCreated {
		t.Fatalf("AddPermission with RevisionId: %d %s", rec.Code, rec.Body)
	}
	policy, rev2 := getPolicy(t, f, "guarded")
	wantAcct := `{"Sid":"acct","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::210987654321:root"},"Action":"lambda:GetFunction",` +
		`"Resource":"` + fnARN + `guarded","Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-abcdefghij","lambda:FunctionUrlAuthType":"NONE"}}}`
	want := `{"Version":"2012-10-17","Id":"default","Statement":[` + wantS3 + `,` + wantAcct + `]}`
	if policy != want {
		t.Fatalf("policy\n%s\nwant\n%s", policy, want)
	}
	if rev2 == rev {
		t.Errorf("AddPermission left the RevisionId at %s", rev)
	}
	rec = f.do(t, "DELETE", "/2015-03-31/functions/guarded/policy/s3?RevisionId="+rev2, nil, nil)
	if rec.Code != http.StatusNoContent {
		t.Fatalf("RemovePermission: %d %s", rec.Code, rec.Body)
	}
	if policy, _ := getPolicy(t, f, "guarded"); policy != `{"Version":"2012-10-17","Id":"default","Statement":[`+wantAcct+`]}` {
		t.Fatalf("after remove: %s", policy)
	}
}

func TestPolicyErrorsAreRenderedAsLambdaDoes(t *testing.T) {
	f := newFixture(t)
	f.create(t, "guarded")
	f.create(t, "open")
	perm := func(sid, action, principal string) []byte {
		return mustJSON(map[string]string{"StatementId": sid, "Action": action, "Principal": principal})
	}
	if rec := f.do(t, "POST", "/2015-03-31/functions/guarded/policy", perm("one", "lambda:InvokeFunction", "*"), nil); rec.Code != http.StatusCreated {
		t.Fatalf("AddPermission: %d %s", rec.Code, rec.Body)
	}
	before, _ := getPolicy(t, f, "guarded")
	tests := []struct {
		name, method, path string
		body               []byte
		status             int
		typ, msg           string
	}{
		{"a statement id in use conflicts", "POST", "/2015-03-31/functions/guarded/policy", perm("one", "lambda:InvokeFunction", "*"),
			409, "ResourceConflictException", "The statement id (one) provided already exists. Please provide a new statement id, or remove the existing statement."},
		{"a stale RevisionId fails the precondition", "POST", "/2015-03-31/functions/guarded/policy",
			mustJSON(map[string]string{"StatementId": "two", "Action": "lambda:*", "Principal": "*", "RevisionId": "stale"}),
			412, "PreconditionFailedException", "The Revision Id provided does not match the latest Revision Id."},
		{"a stale RevisionId fails a remove", "DELETE", "/2015-03-31/functions/guarded/policy/one?RevisionId=stale", nil,
			412, "PreconditionFailedException", "does not match the latest Revision Id"},
		{"an action outside lambda is refused", "POST", "/2015-03-31/functions/guarded/policy", perm("two", "s3:GetObject", "*"),
			400, "ValidationException", "at 'action' failed to satisfy constraint"},
		{"a statement id with spaces is refused", "POST", "/2015-03-31/functions/guarded/policy", perm("a b", "lambda:*", "*"),
			400, "ValidationException", "at 'statementId' failed to satisfy constraint"},
		{"a missing principal is refused", "POST", "/2015-03-31/functions/guarded/policy", perm("two", "lambda:*", ""),
			400, "ValidationException", "Value '' at 'principal' failed to satisfy constraint: Member must satisfy regular expression pattern: [^\\s]+"},
		{"an unknown statement is not found", "DELETE", "/2015-03-31/functions/guarded/policy/nope", nil,
			404, "ResourceNotFoundException", "Statement nope is not found in resource policy."},
		{"a function without a policy has none", "GET", "/2015-03-31/functions/open/policy", nil,
			404, "ResourceNotFoundException", "The resource you requested does not exist."},
		{"a missing function is not found", "GET", "/2015-03-31/functions/missing/policy", nil,
			404, "ResourceNotFoundException", "Function not found: " + fnARN + "missing"},
		{"a version that does not exist is not found", "POST", "/2015-03-31/functions/guarded/policy?Qualifier=7", perm("two", "lambda:*", "*"),
			404, "ResourceNotFoundException", "Function not found: " + fnARN + "guarded:7"},
		{"a policy over 20 KB is refused", "POST", "/2015-03-31/functions/guarded/policy",
			mustJSON(map[string]string{"StatementId": "big", "Action": "lambda:*", "Principal": "*", "SourceArn": "arn:aws:s3:::" + strings.Repeat("b", 21000)}),
			400, "PolicyLengthExceededException", "is bigger than the limit (20480)"},
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
	if after, _ := getPolicy(t, f, "guarded"); after != before {
		t.Errorf("refused requests changed the policy:\n%s\nwas\n%s", after, before)
	}
}
