package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTheAWSCLIManagesTagsPoliciesAndRuntimeManagement(t *testing.T) {
	needAWSCLI(t)
	s := sharedServer(t)
	zipPath := filepath.Join(t.TempDir(), "echo.zip")
	if err := os.WriteFile(zipPath, functionZips["echo"], 0o644); err != nil {
		t.Fatal(err)
	}
	name := uniqueName("tagspolicy")
	arn := "arn:aws:lambda:us-east-1:" + accountID + ":function:" + name
	var created struct{ FunctionArn string }
	decodeCLI(t, s.aws(t, "lambda", "create-function", "--function-name", name, "--runtime", "provided.al2023",
		"--handler", "bootstrap", "--role", "arn:aws:iam::"+accountID+":role/e2e", "--zip-file", "fileb://"+zipPath,
		"--tags", "team=a,env=dev"), &created)
	if created.FunctionArn != "" {
		arn = created.FunctionArn
	}
	waitReady(t, s.lambdaClient(), name)

	t.Run("tag-resource, untag-resource and list-tags change and show the tags", func(t *testing.T) {
		if r := s.aws(t, "lambda", "tag-resource", "--resource", arn, "--tags", "env=prod,owner=b"); r.code != 0 {
			t.Fatalf("tag-resource: %s", r.stderr)
		}
		if r := s.aws(t, "lambda", "untag-resource", "--resource", arn, "--tag-keys", "team"); r.code != 0 {
			t.Fatalf("untag-resource: %s", r.stderr)
		}
		var out struct{ Tags map[string]string }
		decodeCLI(t, s.aws(t, "lambda", "list-tags", "--resource", arn), &out)
		if len(out.Tags) != 2 || out.Tags["env"] != "prod" || out.Tags["owner"] != "b" {
			t.Errorf("list-tags %v", out.Tags)
		}
		r := s.aws(t, "lambda", "tag-resource", "--resource", arn, "--tags", "aws:x=1")
		if r.code == 0 || !strings.Contains(r.stderr, "InvalidParameterValueException") {
			t.Errorf("an aws: key was not refused: %d %s", r.code, r.stderr)
		}
	})

	t.Run("add-permission, get-policy and remove-permission keep the policy", func(t *testing.T) {
		var added struct{ Statement string }
		decodeCLI(t, s.aws(t, "lambda", "add-permission", "--function-name", name, "--statement-id", "s3",
			"--action", "lambda:InvokeFunction", "--principal", "s3.amazonaws.com", "--source-arn", "arn:aws:s3:::b"), &added)
		if !strings.Contains(added.Statement, `"ArnLike":{"AWS:SourceArn":"arn:aws:s3:::b"}`) {
			t.Errorf("statement %s", added.Statement)
		}
		r := s.aws(t, "lambda", "add-permission", "--function-name", name, "--statement-id", "s3",
			"--action", "lambda:InvokeFunction", "--principal", "*")
		if r.code == 0 || !strings.Contains(r.stderr, "ResourceConflictException") {
			t.Errorf("a duplicate sid was not refused: %d %s", r.code, r.stderr)
		}
		var got struct{ Policy, RevisionId string }
		decodeCLI(t, s.aws(t, "lambda", "get-policy", "--function-name", name), &got)
		var doc struct {
			Version, Id string
			Statement   []struct{ Sid string }
		}
		if err := json.Unmarshal([]byte(got.Policy), &doc); err != nil || doc.Version != "2012-10-17" || len(doc.Statement) != 1 || doc.Statement[0].Sid != "s3" {
			t.Errorf("policy %s (%v)", got.Policy, err)
		}
		if r := s.aws(t, "lambda", "remove-permission", "--function-name", name, "--statement-id", "s3"); r.code != 0 {
			t.Fatalf("remove-permission: %s", r.stderr)
		}
		r = s.aws(t, "lambda", "get-policy", "--function-name", name)
		if r.code == 0 || !strings.Contains(r.stderr, "ResourceNotFoundException") {
			t.Errorf("get-policy without a policy: %d %s", r.code, r.stderr)
		}
	})

	t.Run("put- and get-runtime-management-config store the mode", func(t *testing.T) {
		const version = "arn:aws:lambda:us-east-1::runtime:0123abcd"
		var put, got struct{ UpdateRuntimeOn, RuntimeVersionArn string }
		decodeCLI(t, s.aws(t, "lambda", "put-runtime-management-config", "--function-name", name,
			"--update-runtime-on", "Manual", "--runtime-version-arn", version), &put)
		decodeCLI(t, s.aws(t, "lambda", "get-runtime-management-config", "--function-name", name), &got)
		if put != got || got.UpdateRuntimeOn != "Manual" || got.RuntimeVersionArn != version {
			t.Errorf("put %+v, get %+v", put, got)
		}
	})
}
