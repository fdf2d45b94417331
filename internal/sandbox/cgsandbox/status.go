package cgsandbox

import (
	"bufio"
	"cmp"
	"context"
	"fmt"
	"io"
	"strings"
	"time"
)

// A backend's setup helper (the jail's init, gVisor's shim) reports to the backend on a status
// stream of its own: StatusReady once the sandbox is set up, or one error line (ReportError)
// when setting it up or starting the runtime fails. Its exec of the runtime closes the stream,
// which the backend reads as the start's success.

// StatusReady is the report of a helper that has set its sandbox up.
const StatusReady = "ready"

// ReportError writes err to the status stream w as its one error line.
func ReportError(w io.Writer, err error) {
	fmt.Fprintf(w, "error: %s\n", strings.ReplaceAll(err.Error(), "\n", " "))
}

// ReadStatus reads the helper who's next report from r, the status stream read from conn:
// want, an error line, or the stream's end (what a successful exec looks like; want == ""
// accepts it). The end of ctx interrupts it.
func ReadStatus(ctx context.Context, conn interface{ SetReadDeadline(time.Time) error }, r *bufio.Reader, who, want string) error {
	stop := context.AfterFunc(ctx, func() { conn.SetReadDeadline(time.Now()) })
	defer stop()
	line, err := r.ReadString('\n')
	line = strings.TrimSuffix(line, "\n")
	switch {
	case strings.HasPrefix(line, "error: "):
		return fmt.Errorf("%s: %s", who, strings.TrimPrefix(line, "error: "))
	case err == io.EOF && line == "" && want == "":
		return nil
	case err != nil:
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%s ended before it was %s: %w", who, cmp.Or(want, "started"), err)
	case line != want:
		return fmt.Errorf("%s said %q", who, line)
	}
	return nil
}
