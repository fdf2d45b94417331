// Command fn is a test function for the worker's tests: the event's "op" says what it does.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

type event struct {
	Op    string `json:"op"`
	MS    int    `json:"ms"`
	Lines int    `json:"lines"`
	Text  string `json:"text"`
	// N and Dir are for the attacks on the Runtime API: how many connections, and the
	// directory where the function says it is ready and the test says to let go.
	N   int    `json:"n"`
	Dir string `json:"dir"`
}

var calls int

// ticks counts the wake-ups of a background goroutine the "tick" op starts, every
// millisecond while the sandbox runs.
var (
	ticks     atomic.Int64
	tickStart sync.Once
)

func handle(ctx context.Context, ev event) (any, error) {
	calls++
	lc, _ := lambdacontext.FromContext(ctx)
	switch ev.Op {
	case "error":
		return nil, errors.New("it went wrong: " + ev.Text)
	case "panic":
		panic("boom")
	case "exit":
		fmt.Println("exiting now")
		os.Exit(3)
	case "sleep":
		time.Sleep(time.Duration(ev.MS) * time.Millisecond)
	case "tick":
		tickStart.Do(func() {
			go func() {
				for {
					time.Sleep(time.Millisecond)
					ticks.Add(1)
				}
			}()
		})
		before := ticks.Load()
		time.Sleep(time.Duration(ev.MS) * time.Millisecond)
		return map[string]int64{"before": before, "after": ticks.Load()}, nil
	case "log":
		for i := 0; i < ev.Lines; i++ {
			fmt.Printf("line %d %s\n", i, ev.Text)
		}
		fmt.Print("no newline at the end")
	case "grow":
		// Take ev.N MB and touch every page, then hold it for ev.MS ms.
		b := make([]byte, ev.N<<20)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		time.Sleep(time.Duration(ev.MS) * time.Millisecond)
		return map[string]int{"grew": len(b) >> 20}, nil
	case "big":
		// A JSON string of ev.N bytes, quotes included.
		return strings.Repeat("a", ev.N-2), nil
	case "flood", "headers":
		return attack(ev), nil
	case "env":
		env := map[string]string{}
		for _, kv := range os.Environ() {
			k, v, _ := strings.Cut(kv, "=")
			env[k] = v
		}
		dl, _ := ctx.Deadline()
		return map[string]any{"env": env, "requestId": lc.AwsRequestID, "arn": lc.InvokedFunctionArn,
			"deadlineMs": dl.UnixMilli()}, nil
	}
	return map[string]any{"op": ev.Op, "calls": calls, "text": ev.Text}, nil
}

func main() {
	if os.Getenv("INIT_POST") != "" {
		// Report an init error through the Runtime API, then exit at once, as AWS's
		// runtime clients do.
		http.Post("http://"+os.Getenv("AWS_LAMBDA_RUNTIME_API")+"/2018-06-01/runtime/init/error", "application/json",
			strings.NewReader(`{"errorType":"Custom.Init","errorMessage":"bad config"}`))
		os.Exit(1)
	}
	if os.Getenv("INIT_FAIL") != "" {
		fmt.Println("cannot initialise")
		os.Exit(2)
	}
	lambda.Start(handle)
}

// attack opens ev.N connections to the Runtime API and holds them: "flood" sends nothing on
// them, "headers" sends a request whose header block grows to 900 KB and never ends. Once every
// connection is open (or refused) it writes Dir/ready, then holds them until Dir/release
// exists.
func attack(ev event) map[string]int {
	addr := os.Getenv("AWS_LAMBDA_RUNTIME_API")
	var mu sync.Mutex
	var conns []net.Conn
	counts := map[string]int{}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for i := 0; i < ev.N; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			c, err := net.DialTimeout("tcp", addr, 2*time.Second)
			if err != nil {
				mu.Lock()
				counts["dialFailed"]++
				mu.Unlock()
				return
			}
			mu.Lock()
			conns = append(conns, c)
			counts["dialed"]++
			mu.Unlock()
			if ev.Op != "headers" {
				return
			}
			c.SetWriteDeadline(time.Now().Add(5 * time.Second))
			junk := "X-Junk: " + strings.Repeat("a", 900<<10)
			if _, err := io.WriteString(c, "GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n"+junk); err != nil {
				mu.Lock()
				counts["writeFailed"]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	os.WriteFile(filepath.Join(ev.Dir, "ready"), nil, 0o644)
	for {
		if _, err := os.Stat(filepath.Join(ev.Dir, "release")); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, c := range conns {
		c.Close()
	}
	return counts
}
