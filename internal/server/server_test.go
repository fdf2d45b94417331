package server_test

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ember-serverless/ember/internal/gobuild"
	"github.com/ember-serverless/ember/internal/state"
	"github.com/ember-serverless/ember/internal/state/statetest"
	"github.com/ember-serverless/ember/internal/testenv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/ember-serverless/ember/internal/server"
)

func buildZip(t *testing.T) []byte {
	t.Helper()
	dir := t.TempDir()
	if err := gobuild.Static(filepath.Join(dir, "bootstrap"), "internal/worker/testdata/fn"); err != nil {
		t.Fatal(err)
	}
	bin, err := os.ReadFile(filepath.Join(dir, "bootstrap"))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	h := &zip.FileHeader{Name: "bootstrap", Method: zip.Deflate}
	h.SetMode(0o755)
	w, _ := zw.CreateHeader(h)
	w.Write(bin)
	zw.Close()
	return buf.Bytes()
}

func start(t *testing.T, dir string, tweaks ...func(*server.Config)) (*server.Server, *lambda.Client) {
	t.Helper()
	t.Setenv("EMBER_ROOT_ACCESS_KEY_ID", "AKIDEMBERTEST0000000")
	t.Setenv("EMBER_ROOT_SECRET_ACCESS_KEY", "secretsecretsecretsecretsecretsecret0000")
	cfg := server.DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.DataDir = dir
	cfg.MetricsListen = "127.0.0.1:0"
	for _, f := range tweaks {
		f(&cfg)
	}
	s, err := server.Start(context.Background(), cfg, nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	client := lambda.New(lambda.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String("http://" + s.Addr()),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDEMBERTEST0000000", "secretsecretsecretsecretsecretsecret0000", ""),
	})
	return s, client
}

func stop(t *testing.T, s *server.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Errorf("shutdown: %v", err)
	}
}

func TestAFunctionIsCreatedInvokedAndSurvivesARestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, c := start(t, dir)
	_, err := c.CreateFunction(ctx, &lambda.CreateFunctionInput{
		FunctionName: aws.String("fn"), Runtime: types.RuntimeProvidedal2023,
		Role: aws.String("arn:aws:iam::000000000000:role/r"), Handler: aws.String("bootstrap"),
		Code: &types.FunctionCode{ZipFile: buildZip(t)},
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("fn"), Payload: []byte(`{"op":"echo","text":"hi"}`),
		LogType: types.LogTypeTail})
	if err != nil {
		t.Fatal(err)
	}
	if out.FunctionError != nil || !strings.Contains(string(out.Payload), `"text":"hi"`) {
		t.Fatalf("invoke answered %s (function error %v)", out.Payload, aws.ToString(out.FunctionError))
	}
	if aws.ToString(out.ExecutedVersion) != "$LATEST" || aws.ToString(out.LogResult) == "" {
		t.Errorf("executed version %q, log result %q", aws.ToString(out.ExecutedVersion), aws.ToString(out.LogResult))
	}
	if metrics := scrape(t, s); !strings.Contains(metrics, "ember_invocations_total 1") {
		t.Errorf("/metrics does not count the invocation:\n%.2000s", metrics)
	}
	stop(t, s)

	s, c = start(t, dir)
	defer stop(t, s)
	out, err = c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("fn"), Payload: []byte(`{"op":"echo","text":"again"}`)})
	if err != nil || !strings.Contains(string(out.Payload), `"text":"again"`) {
		t.Fatalf("after a restart the function answers %s, %v", out.Payload, err)
	}
	if _, err := c.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: aws.String("fn")}); err != nil {
		t.Fatal(err)
	}
	// The registry publishes the deletion, and the server destroys the function's warm sandbox.
	testenv.CheckFor(t, 30*time.Second, 20*time.Millisecond, func() error {
		if m := scrape(t, s); !strings.Contains(m, "\nember_sandboxes 0\n") {
			return fmt.Errorf("the deleted function's warm sandbox is still alive:\n%.2000s", m)
		}
		return nil
	})
	_, err = c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("fn")})
	var nf *types.ResourceNotFoundException
	if !errors.As(err, &nf) {
		t.Errorf("invoking a deleted function: %v, want ResourceNotFoundException", err)
	}
}

// scrape reads the server's Prometheus metrics.
func scrape(t *testing.T, s *server.Server) string {
	t.Helper()
	resp, err := http.Get("http://" + s.MetricsAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	metrics, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(metrics)
}

func TestTheServerStopsWithTheReasonWhenItsStateStoreIsGoneForLongerThanTheGrace(t *testing.T) {
	nats := statetest.NewCluster(t, 1)
	t.Setenv("EMBER_ROOT_ACCESS_KEY_ID", "AKIDEMBERTEST0000000")
	t.Setenv("EMBER_ROOT_SECRET_ACCESS_KEY", "secretsecretsecretsecretsecretsecret0000")
	cfg := server.DefaultConfig()
	cfg.Listen, cfg.DataDir, cfg.Isolation = "127.0.0.1:0", t.TempDir(), "none"
	cfg.NATSURL, cfg.StoreGrace = nats.URL(), 2*time.Second
	s, err := server.Start(context.Background(), cfg, nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- s.Wait(context.Background()) }()
	nats.Stop("node-1")
	select {
	case err := <-waited:
		if !errors.Is(err, state.ErrUnhealthy) || !strings.Contains(err.Error(), "supervisor") {
			t.Errorf("the server stopped with %v, want the state store's failure and what to do about it", err)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("the server kept serving two minutes after its state store went away")
	}
}
