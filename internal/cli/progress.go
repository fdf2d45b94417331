package cli

import (
	"fmt"
	"io"
	"net/http"
	"os"
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
	// live redraws one line as the body is sent; otherwise only the end is reported.
	live bool
}

func (c *progressClient) Do(req *http.Request) (*http.Response, error) {
	if req.Body != nil && req.ContentLength >= c.min {
		req.Body = &progressReader{rc: req.Body, total: req.ContentLength, out: c.out, live: c.live}
	}
	return c.next.Do(req)
}

// progressReader prints "uploading N / M (P%)" at every tenth of the body and when it is done.
type progressReader struct {
	rc    io.ReadCloser
	total int64
	out   io.Writer
	live  bool

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
		switch {
		case r.live && r.sent >= r.total:
			fmt.Fprintf(r.out, "\ruploaded %s       \n", humanBytes(r.total))
		case r.live:
			fmt.Fprintf(r.out, "\ruploading %s / %s (%d%%)", humanBytes(r.sent), humanBytes(r.total), r.sent*100/r.total)
		case r.sent >= r.total:
			fmt.Fprintf(r.out, "uploaded %s\n", humanBytes(r.total))
		}
	}
	r.mu.Unlock()
	return n, err
}

func (r *progressReader) Close() error { return r.rc.Close() }

// isTerminal reports whether w is a character device, such as a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

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
