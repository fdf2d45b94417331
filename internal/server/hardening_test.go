package server_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/ember-serverless/ember/internal/auth"
	"github.com/ember-serverless/ember/internal/server"
	"github.com/ember-serverless/ember/internal/testenv"
)

func TestMetricsAreServedOnTheirOwnListenerOnly(t *testing.T) {
	s, _ := start(t, t.TempDir())
	defer stop(t, s)
	t.Run("the metrics listener serves them without a signature", func(t *testing.T) {
		resp, err := http.Get("http://" + s.MetricsAddr() + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), "ember_api_connections ") {
			t.Errorf("status %d:\n%.500s", resp.StatusCode, b)
		}
	})
	t.Run("the API answers an unsigned /metrics as any unsigned request", func(t *testing.T) {
		resp, err := http.Get("http://" + s.Addr() + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || resp.Header.Get("X-Amzn-Errortype") != "MissingAuthenticationTokenException" {
			t.Errorf("status %d, error type %q: %.300s", resp.StatusCode, resp.Header.Get("X-Amzn-Errortype"), b)
		}
	})
}

func TestAGeneratedRootKeyIsWrittenAndPrintedOnlyByAStartThatServes(t *testing.T) {
	t.Setenv(auth.EnvRootAccessKeyID, "")
	t.Setenv(auth.EnvRootSecretAccessKey, "")
	dir := t.TempDir()
	startOn := func(listen string) (*server.Server, string, error) {
		cfg := server.DefaultConfig()
		cfg.Listen, cfg.DataDir = listen, dir
		var out bytes.Buffer
		s, err := server.Start(context.Background(), cfg, nil, &out)
		return s, out.String(), err
	}

	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	if s, out, err := startOn(busy.Addr().String()); err == nil {
		stop(t, s)
		t.Fatal("a start on a busy port succeeded")
	} else if out != "" {
		t.Errorf("the failed start printed %q", out)
	}
	if _, err := os.Stat(auth.RootFilePath(dir)); !os.IsNotExist(err) {
		t.Fatalf("the failed start left %s behind (stat: %v), a key nobody was shown", auth.RootFilePath(dir), err)
	}

	s, out, err := startOn("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	stop(t, s)
	creds, err := auth.ReadRootFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, creds.AccessKeyID) || !strings.Contains(out, creds.SecretAccessKey) {
		t.Errorf("the first start that served did not print the key it wrote:\n%s", out)
	}

	s, out, err = startOn("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	stop(t, s)
	if out != "" {
		t.Errorf("a later start printed %q; the key is shown once", out)
	}
}

// liveHeap is the live heap after a collection.
func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

func openFDs(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		testenv.Need(t, "needs /proc/self/fd to count descriptors: %v", err)
	}
	return len(fds)
}

func TestUnauthenticatedClientsCannotExhaustTheAPI(t *testing.T) {
	const maxConns = 200
	s, c := start(t, t.TempDir(), func(cfg *server.Config) { cfg.MaxConnections = maxConns })
	defer stop(t, s)
	ctx := context.Background()
	if _, err := c.CreateFunction(ctx, &lambda.CreateFunctionInput{
		FunctionName: aws.String("fn"), Runtime: types.RuntimeProvidedal2023,
		Role: aws.String("arn:aws:iam::000000000000:role/r"), Handler: aws.String("bootstrap"),
		Code: &types.FunctionCode{ZipFile: buildZip(t)},
	}); err != nil {
		t.Fatal(err)
	}
	invokeOK := func(when string) {
		t.Helper()
		out, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("fn"), Payload: []byte(`{"op":"echo","text":"` + when + `"}`)})
		if err != nil || !strings.Contains(string(out.Payload), when) {
			t.Fatalf("invoke %s: %v %s", when, err, out.Payload)
		}
	}
	invokeOK("before")
	heapBefore, fdsBefore := liveHeap(), openFDs(t)

	var mu sync.Mutex
	var attackers []net.Conn
	defer func() {
		for _, a := range attackers {
			a.Close()
		}
	}()
	dial := func() net.Conn {
		a, err := net.Dial("tcp", s.Addr())
		if err != nil {
			t.Error(err)
			return nil
		}
		mu.Lock()
		attackers = append(attackers, a)
		mu.Unlock()
		return a
	}
	megabyte := bytes.Repeat([]byte("a"), 1<<20)
	upload := "POST /2015-03-31/functions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 69905067\r\n"
	// A known access key with a signature that will not match, so that only the body could
	// show it: the body is read, within the server's budget.
	amzDate := time.Now().UTC().Format("20060102T150405Z")
	forged := fmt.Sprintf("Authorization: AWS4-HMAC-SHA256 Credential=AKIDEMBERTEST0000000/%s/us-east-1/lambda/aws4_request, "+
		"SignedHeaders=host;x-amz-date, Signature=%s\r\nX-Amz-Date: %s\r\n", amzDate[:8], strings.Repeat("0", 64), amzDate)
	attacks := []struct {
		name  string
		conns int
		send  func(a net.Conn)
	}{
		{"unsigned 70 MB code uploads that send 1 MB and stall", 30, func(a net.Conn) {
			io.WriteString(a, upload+"\r\n")
			a.Write(megabyte)
		}},
		{"forged 70 MB code uploads that send 1 MB and stall", 10, func(a net.Conn) {
			io.WriteString(a, upload+forged+"\r\n")
			a.Write(megabyte)
		}},
		{"requests whose headers never end", 50, func(a net.Conn) {
			io.WriteString(a, "GET /2015-03-31/functions HTTP/1.1\r\nHost: x\r\nX-Junk: "+strings.Repeat("a", 60<<10))
		}},
		{"connections that never send anything", 1000, func(net.Conn) {}},
	}
	var wg sync.WaitGroup
	clients := 0
	for _, at := range attacks {
		clients += at.conns
		for i := 0; i < at.conns; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if a := dial(); a != nil {
					a.SetWriteDeadline(time.Now().Add(30 * time.Second))
					at.send(a)
				}
			}()
		}
	}
	wg.Wait()

	// The API answers through it all: a listing, and an invoke of a function.
	if _, err := c.ListFunctions(ctx, &lambda.ListFunctionsInput{}); err != nil {
		t.Errorf("ListFunctions during the attack: %v", err)
	}
	invokeOK("during")
	heapDuring, fdsDuring := liveHeap(), openFDs(t)
	if open := s.OpenConnections(); open > maxConns {
		t.Errorf("the API holds %d connections, past its cap of %d", open, maxConns)
	}
	// This process is both the attacker and the server: the attackers' own sockets are theirs.
	if serverFDs := fdsDuring - fdsBefore - clients; serverFDs > maxConns+50 {
		t.Errorf("the server's descriptors grew by %d during the attack; want at most about its cap of %d", serverFDs, maxConns)
	}
	if heapDuring > heapBefore && heapDuring-heapBefore > 100<<20 {
		t.Errorf("the live heap grew by %d MB during the attack; want under 100 MB", (heapDuring-heapBefore)>>20)
	}
	t.Logf("live heap %d → %d MB; descriptors %d → %d with %d attacking clients; API connections %d",
		heapBefore>>20, heapDuring>>20, fdsBefore, fdsDuring, clients, s.OpenConnections())

}
