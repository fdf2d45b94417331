// Command attack turns a function against its own Runtime API, for the end-to-end tests of the
// server's limits. {"op":"flood","n":N} opens N connections to AWS_LAMBDA_RUNTIME_API and sends
// nothing on them; {"op":"headers","n":N} opens N and on each sends a request whose header block
// grows to 900 KB and never ends. Either returns once every connection is open (or refused)
// and its bytes written, keeping the connections while the sandbox idles; {"op":"release"}
// closes them. Each answers with counts of what happened.
package main

import (
	"context"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
)

type event struct {
	Op string `json:"op"`
	N  int    `json:"n"`
}

var held []net.Conn

func handle(_ context.Context, ev event) (map[string]int, error) {
	counts := map[string]int{}
	if ev.Op == "release" {
		for _, c := range held {
			c.Close()
		}
		counts["released"] = len(held)
		held = nil
		return counts, nil
	}
	addr := os.Getenv("AWS_LAMBDA_RUNTIME_API")
	junk := "GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\nX-Junk: " + strings.Repeat("a", 900<<10)
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for i := 0; i < ev.N; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			c, err := net.DialTimeout("tcp", addr, 5*time.Second)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				counts["dialFailed"]++
				return
			}
			held = append(held, c)
			counts["dialed"]++
			if ev.Op == "headers" {
				mu.Unlock()
				c.SetWriteDeadline(time.Now().Add(10 * time.Second))
				_, err := io.WriteString(c, junk)
				mu.Lock()
				if err != nil {
					counts["writeFailed"]++
				}
			}
		}()
	}
	wg.Wait()
	return counts, nil
}

func main() {
	lambda.Start(handle)
}
