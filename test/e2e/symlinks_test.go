package e2e

import (
	"context"
	"io/fs"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
)

// TestAPackageWithLinksOutOfItRunsAndOneWritingThroughALinkIsRefused deploys a package as
// virtualenvs and node_modules ship them: its bootstrap a link into the package, a link to an
// interpreter outside it, a node_modules/.bin link. Lambda accepts such packages; so must
// Ember. A package placing a file beneath a link to a host directory is refused.
func TestAPackageWithLinksOutOfItRunsAndOneWritingThroughALinkIsRefused(t *testing.T) {
	ctx := context.Background()
	c := sharedServer(t).lambdaClient()
	link := func(name, target string) zipEntry {
		return zipEntry{name: name, mode: fs.ModeSymlink | 0o777, body: []byte(target)}
	}
	z, err := zipFiles(
		zipEntry{name: "bin/echo", mode: 0o755, body: functionBinary(t, "echo")},
		link("bootstrap", "bin/echo"),
		link("venv/bin/python", "/usr/bin/python3"),
		zipEntry{name: "node_modules/pkg/bin/x", mode: 0o755, body: []byte("#!/bin/sh\n")},
		link("node_modules/.bin/x", "../pkg/bin/x"),
	)
	if err != nil {
		t.Fatal(err)
	}
	name := uniqueName("links")
	in := createInput(name, functionSpec{fn: "echo"})
	in.Code.ZipFile = z
	if _, err := c.CreateFunction(ctx, in); err != nil {
		t.Fatalf("a package with links out of it was refused: %v", err)
	}
	waitReady(t, c, name)
	if out := invokeJSON(t, c, name, `"linked"`); string(out.Payload) != `"linked"` {
		t.Errorf("payload %s", out.Payload)
	}

	hostile, err := zipFiles(link("evil", "/etc"), zipEntry{name: "evil/passwd", mode: 0o644, body: []byte("owned\n")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.UpdateFunctionCode(ctx, &lambda.UpdateFunctionCodeInput{FunctionName: aws.String(name), ZipFile: hostile})
	wantAPIError(t, err, 400, "InvalidParameterValueException")
}
