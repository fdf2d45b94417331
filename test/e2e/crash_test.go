package e2e

import (
	"context"
	"crypto/rand"
	"syscall"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// killNow kills the server and everything it started with SIGKILL, as a crash or an OOM kill
// would, and waits for it to be gone.
func (s *emberServer) killNow() {
	syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	<-s.done
}

// paddedEcho is the echo function with an incompressible file beside it, so that preparing its
// code (reassembling, decrypting and unpacking tens of MB) takes long after the change is
// acknowledged: a kill right after the answer lands in the middle of it.
func paddedEcho(t *testing.T) []byte {
	t.Helper()
	pad := make([]byte, 24<<20)
	rand.Read(pad)
	z, err := zipFiles(
		zipEntry{name: "bootstrap", mode: 0o755, body: functionBinary(t, "echo")},
		zipEntry{name: "padding.bin", mode: 0o644, body: pad},
	)
	if err != nil {
		t.Fatal(err)
	}
	return z
}

func TestAKillRightAfterAnAcknowledgedCreateOrUpdateLeavesNothingStuck(t *testing.T) {
	ctx := context.Background()
	dataDir := t.TempDir()
	name := uniqueName("crash")

	first := newServer(t, dataDir)
	in := createInput(name, functionSpec{fn: "echo"})
	in.Code.ZipFile = paddedEcho(t)
	created, err := first.lambdaClient().CreateFunction(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	first.killNow()
	if created.State != types.StatePending {
		t.Fatalf("CreateFunction answered state %s, want Pending", created.State)
	}

	second := newServer(t, dataDir)
	c := second.lambdaClient()
	t.Run("a create killed before it was ready ends Active", func(t *testing.T) {
		cfg := waitReady(t, c, name)
		if cfg.State != types.StateActive {
			t.Errorf("state %s", cfg.State)
		}
		if out := invokeJSON(t, c, name, `"created"`); string(out.Payload) != `"created"` {
			t.Errorf("payload %s", out.Payload)
		}
	})
	updated, err := c.UpdateFunctionCode(ctx, &lambda.UpdateFunctionCodeInput{FunctionName: aws.String(name), ZipFile: paddedEcho(t)})
	if err != nil {
		t.Fatal(err)
	}
	second.killNow()
	if updated.LastUpdateStatus != types.LastUpdateStatusInProgress || aws.ToString(updated.LastUpdateStatusReason) != "The function is being updated." {
		t.Errorf("UpdateFunctionCode answered %s (%q), want InProgress (%q)", updated.LastUpdateStatus,
			aws.ToString(updated.LastUpdateStatusReason), "The function is being updated.")
	}

	third := newServer(t, dataDir)
	c = third.lambdaClient()
	t.Run("an update killed before it was ready ends Successful", func(t *testing.T) {
		cfg := waitReady(t, c, name)
		if cfg.LastUpdateStatus != types.LastUpdateStatusSuccessful || aws.ToString(cfg.CodeSha256) != aws.ToString(updated.CodeSha256) {
			t.Errorf("last update %s, code %s; want Successful with %s", cfg.LastUpdateStatus, aws.ToString(cfg.CodeSha256), aws.ToString(updated.CodeSha256))
		}
		if out := invokeJSON(t, c, name, `"updated"`); string(out.Payload) != `"updated"` {
			t.Errorf("payload %s", out.Payload)
		}
	})
	t.Run("later updates are accepted", func(t *testing.T) {
		if _, err := c.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{
			FunctionName: aws.String(name), Description: aws.String("after two crashes")}); err != nil {
			t.Fatal(err)
		}
		waitReady(t, c, name)
	})
}
