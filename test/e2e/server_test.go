package e2e

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/ember-serverless/ember/internal/testenv"
)

// Credentials every test server is started with.
const (
	rootAccessKeyID = "AKIAEMBERE2ETEST0001"
	rootSecretKey   = "ember-e2e-secret-key-0000000000000000000"
	region          = "us-east-1"
	accountID       = "000000000000"
)

// Deadlines; generous because CI has two shared cores, and never used as synchronisation.
const (
	serverStartTimeout = 60 * time.Second
	serverStopTimeout  = 20 * time.Second
)

// emberServer is a running `ember server` process.
type emberServer struct {
	Endpoint string // known once the server has logged where it listens
	DataDir  string

	cmd  *exec.Cmd
	log  *testenv.Buffer
	done chan struct{} // closed when the process has exited
	err  error         // the process's exit error, once done
}

// servingLine matches the line `ember server` logs once its API listens, naming the endpoint
// of the port it was given or, for port 0, chose.
var servingLine = regexp.MustCompile(`msg="ember is serving" endpoint=(http://[^ ]+)`)

// startServer starts `ember server` on a port it picks itself, with dataDir and any extra flags,
// and waits until it answers HTTP. rootEnv passes the root credentials through EMBER_ROOT_*;
// without it the server generates its own.
func startServer(dataDir string, rootEnv bool, extra ...string) (*emberServer, error) {
	args := []string{"server", "--listen", "127.0.0.1:0", "--data-dir", dataDir, "--region", region, "--account-id", accountID}
	args = append(args, extra...)
	if iso := os.Getenv("EMBER_E2E_ISOLATION"); iso != "" {
		args = append(args, "--isolation", iso)
	}
	s := &emberServer{DataDir: dataDir, log: &testenv.Buffer{}, done: make(chan struct{})}
	s.cmd = exec.Command(emberBin, args...)
	s.cmd.Env = os.Environ()
	if rootEnv {
		s.cmd.Env = append(s.cmd.Env, "EMBER_ROOT_ACCESS_KEY_ID="+rootAccessKeyID, "EMBER_ROOT_SECRET_ACCESS_KEY="+rootSecretKey)
	}
	var out io.Writer = s.log
	if os.Getenv("EMBER_E2E_VERBOSE") != "" {
		out = io.MultiWriter(s.log, os.Stderr)
	}
	s.cmd.Stdout, s.cmd.Stderr = out, out
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		s.err = s.cmd.Wait()
		close(s.done)
	}()
	if err := s.waitReady(); err != nil {
		s.stop()
		return nil, fmt.Errorf("%w\nserver log:\n%s", err, s.log.String())
	}
	return s, nil
}

// waitReady polls until the server has logged its endpoint and answers an HTTP request there,
// it exits, or the deadline passes.
func (s *emberServer) waitReady() error {
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(serverStartTimeout)
	for {
		var err error
		if s.Endpoint == "" {
			if m := servingLine.FindStringSubmatch(s.log.String()); m != nil {
				s.Endpoint = m[1]
			} else {
				err = errors.New(`it has not logged "ember is serving" with its endpoint`)
			}
		}
		if s.Endpoint != "" {
			var resp *http.Response
			if resp, err = client.Get(s.Endpoint + "/2015-03-31/functions/"); err == nil {
				resp.Body.Close()
				return nil
			}
		}
		select {
		case <-s.done:
			return fmt.Errorf("ember server exited before answering: %v", s.err)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("ember server did not answer within %s: %v", serverStartTimeout, err)
		}
	}
}

// stop sends SIGTERM, waits for a clean exit, and kills the process group after the deadline.
// It reports an error when the server did not stop cleanly.
func (s *emberServer) stop() error {
	select {
	case <-s.done:
		return s.exitErr()
	default:
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
		return s.exitErr()
	case <-time.After(serverStopTimeout):
	}
	syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	<-s.done
	return fmt.Errorf("ember server did not stop within %s of SIGTERM", serverStopTimeout)
}

// kill ends the server and everything it started with SIGKILL, as a crash would.
func (s *emberServer) kill() {
	syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	<-s.done
}

func (s *emberServer) exitErr() error {
	var ee *exec.ExitError
	if errors.As(s.err, &ee) && !ee.Exited() { // killed by a signal
		return fmt.Errorf("ember server: %v", s.err)
	}
	return s.err
}

// logOnFailure prints the server's log (its tail, for the shared server) when t fails.
func (s *emberServer) logOnFailure(t *testing.T) {
	t.Helper()
	mark := len(s.log.String())
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		log := s.log.String()
		if mark > len(log) {
			mark = 0
		}
		since := log[mark:]
		if len(since) > 16<<10 {
			since = "...\n" + since[len(since)-16<<10:]
		}
		t.Logf("server log during this test:\n%s", since)
	})
}

// newServer starts a private server on dataDir, with any extra flags, for one test and stops it
// when the test ends.
func newServer(t *testing.T, dataDir string, extra ...string) *emberServer {
	t.Helper()
	s, err := startServer(dataDir, true, extra...)
	if err != nil {
		t.Fatal(err)
	}
	s.logOnFailure(t)
	t.Cleanup(func() { s.stop() })
	return s
}
