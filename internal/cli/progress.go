package cli

import (
	"fmt"
	"io"
	"net/http"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// progressClient is an HTTP client that reports how much of each large request body has been
// sent. It wraps the SDK's client rather than the SDK's middleware so that signing and retries
// are untouched.
type progressClient struct {
	next aws.HTTPClient
	// min is the smallest body worth reporting.
	min int64
	out io.Writer
}

func (c *progressClient) Do(req *http.Request) (*http.Response, error) {
	if req.Body != nil && req.ContentLength >= c.min {
		req.Body = &progressReader{rc: req.Body, total: req.ContentLength, out: c.out}
	}
	return c.next.Do(req)
}

// progressReader prints "uploading N / M (P%)" at every tenth of the body and when it is done.
type progressReader struct {
	rc    io.ReadCloser
	total int64
	out   io.Writer

	mu       sync.Mutex
	sent     int64
	reported int64 // tenths reported so far
}

func (r *progressReader) Read(p []byte) (int, error) {
	n, err := r.rc.Read(p)
	r.mu.Lock()
	r.sent += int64(n)
	tenth := r.sent * 10 / r.total
	if tenth > r.reported {
		r.reported = tenth
		end := ""
		if r.sent >= r.total {
			end = "\n"
		}
		fmt.Fprintf(r.out, "\ruploading %s / %s (%d%%)%s", humanBytes(r.sent), humanBytes(r.total), r.sent*100/r.total, end)
	}
	r.mu.Unlock()
	return n, err
}

func (r *progressReader) Close() error { return r.rc.Close() }

// humanBytes formats n in binary units.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
