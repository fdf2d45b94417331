package e2e

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
)

func TestRestartOnTheSameDataDirKeepsFunctionsAndCode(t *testing.T) {
	dataDir := t.TempDir()
	first, err := startServer(dataDir, true)
	if err != nil {
		t.Fatal(err)
	}
	first.logOnFailure(t)
	t.Cleanup(func() { first.stop() }) // when the test fails before it stops the server itself
	c := first.lambdaClient()
	name := deploy(t, c, functionSpec{fn: "echo", env: map[string]string{"KEEP": "me"}})
	before := waitReady(t, c, name)
	if out := invokeJSON(t, c, name, `"before"`); string(out.Payload) != `"before"` {
		t.Fatalf("payload before restart = %s", out.Payload)
	}
	if err := first.stop(); err != nil {
		t.Errorf("stopping the server: %v", err)
	}

	second := newServer(t, dataDir)
	c = second.lambdaClient()
	after := waitReady(t, c, name)
	t.Run("the function's configuration survives", func(t *testing.T) {
		if aws.ToString(after.CodeSha256) != aws.ToString(before.CodeSha256) ||
			aws.ToString(after.RevisionId) != aws.ToString(before.RevisionId) ||
			after.Environment == nil || after.Environment.Variables["KEEP"] != "me" {
			t.Errorf("after restart %+v, before %+v", after, before)
		}
	})
	t.Run("the function still runs", func(t *testing.T) {
		if out := invokeJSON(t, c, name, `"after"`); string(out.Payload) != `"after"` {
			t.Errorf("payload after restart = %s", out.Payload)
		}
	})
	t.Run("it is still listed", func(t *testing.T) {
		out, err := c.ListFunctions(context.Background(), &lambda.ListFunctionsInput{})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Functions) != 1 || aws.ToString(out.Functions[0].FunctionName) != name {
			t.Errorf("functions after restart = %d, want just %s", len(out.Functions), name)
		}
	})
}
