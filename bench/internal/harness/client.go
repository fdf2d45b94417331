package harness

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"reflect"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// ErrInvoke is wrapped by every failed invoke: a transport error, a status other than 200, a
// function error, or a response that is not the event sent.
var ErrInvoke = errors.New("invoke failed")

// Client invokes functions the way an SDK would: over keep-alive HTTP/1.1 connections, every
// request signed with SigV4. Every target is driven by the same Client code, so the client's own
// cost is the same in every figure; floor and the emulator ignore the signature.
type Client struct {
	http   *http.Client
	signer *v4.Signer
	creds  aws.Credentials
	region string
	seq    atomic.Uint64
}

// NewClient returns a Client that signs with creds for region and keeps up to conns idle
// connections per server.
func NewClient(creds aws.Credentials, region string, conns int) *Client {
	tr := &http.Transport{
		Proxy:               nil, // loopback only, whatever the environment says
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conns * 2,
		MaxIdleConnsPerHost: conns * 2,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &Client{
		http:   &http.Client{Transport: tr, Timeout: 30 * time.Second},
		signer: v4.NewSigner(),
		creds:  creds,
		region: region,
	}
}

// CloseIdle closes the client's idle connections, so the next server starts with none.
func (c *Client) CloseIdle() { c.http.CloseIdleConnections() }

// Invoke sends one synchronous invoke of an echo function at url and returns how long the server
// took to answer, from just before the request is sent until its whole body has been read.
// Building and signing the request happen before the clock starts. The event carries a sequence
// number, so a response meant for another request is caught as an error.
func (c *Client) Invoke(ctx context.Context, url string) (time.Duration, error) {
	payload := strconv.AppendUint([]byte(`{"seq":`), c.seq.Add(1), 10)
	payload = append(payload, '}')
	sum := sha256.Sum256(payload)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(payload))
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrInvoke, err)
	}
	req.Header.Set("Content-Type", "application/json")
	if err := c.signer.SignHTTP(ctx, c.creds, req, hex.EncodeToString(sum[:]), "lambda", c.region, time.Now()); err != nil {
		return 0, fmt.Errorf("%w: signing: %v", ErrInvoke, err)
	}
	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrInvoke, err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	elapsed := time.Since(start)
	switch {
	case err != nil:
		return elapsed, fmt.Errorf("%w: reading the response: %v", ErrInvoke, err)
	case resp.StatusCode != http.StatusOK:
		return elapsed, fmt.Errorf("%w: status %d: %s", ErrInvoke, resp.StatusCode, truncate(body))
	case resp.Header.Get("X-Amz-Function-Error") != "":
		return elapsed, fmt.Errorf("%w: function error %s: %s", ErrInvoke, resp.Header.Get("X-Amz-Function-Error"), truncate(body))
	case !bytes.Equal(bytes.TrimSpace(body), payload) && !sameJSON(body, payload):
		return elapsed, fmt.Errorf("%w: sent %s, got back %s", ErrInvoke, payload, truncate(body))
	}
	return elapsed, nil
}

// sameJSON reports whether a and b are equal JSON documents: Python's runtime, as Lambda's,
// answers {"seq": 1} for the event {"seq":1}.
func sameJSON(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

func truncate(b []byte) string {
	const n = 200
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}

// Sequential is n invokes one after another from a single client.
type Sequential struct {
	Samples []time.Duration // one per successful invoke
	Errors  int
	// FirstErr is the first error seen, for the operator; nil when there was none.
	FirstErr error
}

// RunSequential invokes url n times, one at a time, and keeps each successful invoke's latency.
func (c *Client) RunSequential(ctx context.Context, url string, n int) Sequential {
	out := Sequential{Samples: make([]time.Duration, 0, n)}
	for range n {
		if ctx.Err() != nil {
			break
		}
		d, err := c.Invoke(ctx, url)
		if err != nil {
			out.Errors++
			if out.FirstErr == nil {
				out.FirstErr = err
			}
			continue
		}
		out.Samples = append(out.Samples, d)
	}
	return out
}

// Concurrent is what a fixed-duration run of concurrent clients did.
type Concurrent struct {
	Throughput
	Samples  []time.Duration // latency of every successful invoke
	FirstErr error
}

// RunConcurrent runs clients loops, each invoking url back to back, until d has passed; an
// invoke in flight at the deadline is let finish and counted.
func (c *Client) RunConcurrent(ctx context.Context, url string, clients int, d time.Duration) Concurrent {
	var (
		mu  sync.Mutex
		out = Concurrent{Throughput: Throughput{Clients: clients}}
		wg  sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(d)
	for range clients {
		wg.Go(func() {
			var samples []time.Duration
			var errs int
			var first error
			for time.Now().Before(deadline) && ctx.Err() == nil {
				lat, err := c.Invoke(ctx, url)
				if err != nil {
					errs++
					if first == nil {
						first = err
					}
					continue
				}
				samples = append(samples, lat)
			}
			mu.Lock()
			defer mu.Unlock()
			out.Samples = append(out.Samples, samples...)
			out.Count += len(samples)
			out.Errors += errs
			if out.FirstErr == nil {
				out.FirstErr = first
			}
		})
	}
	wg.Wait()
	out.Elapsed = time.Since(start)
	return out
}
