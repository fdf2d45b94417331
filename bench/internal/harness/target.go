package harness

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// Target is a running server under test with the echo function deployed on it.
type Target struct {
	// Name is what the report calls it: "floor", "rie" or "ember".
	Name string
	// URL is the echo function's synchronous invoke URL.
	URL  string
	proc *process
	// Runtimes is how many runtime processes serve the function; 0 when the server decides.
	Runtimes int
}

// pid is the server process's id.
func (t *Target) pid() int { return t.proc.cmd.Process.Pid }

// Stop stops the server and every runtime it started.
func (t *Target) Stop() { t.proc.stop() }

// startTimeout bounds how long any server may take to listen.
const startTimeout = 30 * time.Second

// StartFloor starts shared/bench/floor's binary with runtimes copies of bootstrap.
func StartFloor(ctx context.Context, bin, bootstrap string, runtimes int, logDir string) (*Target, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	args := []string{"-listen", addr, "-runtimes", strconv.Itoa(runtimes), "--", bootstrap}
	p, err := startProcess("floor", bin, args, os.Environ(), filepath.Dir(bootstrap), logDir)
	if err != nil {
		return nil, err
	}
	if err := p.waitListening(ctx, addr, startTimeout); err != nil {
		p.stop()
		return nil, err
	}
	return &Target{Name: "floor", URL: invokeURL(addr, "echo"), proc: p, Runtimes: runtimes}, nil
}

// StartRIE starts the Runtime Interface Emulator with bootstrap as its runtime. The emulator
// starts the runtime on the first invoke, serves one invoke at a time, and answers only for the
// function named "function". Both its addresses are free loopback ports, so it never collides
// with anything on its default 8080 and 9001.
func StartRIE(ctx context.Context, bin, bootstrap, logDir string) (*Target, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	rapi, err := freeAddr()
	if err != nil {
		return nil, err
	}
	args := []string{
		"--runtime-interface-emulator-address", addr,
		"--runtime-api-address", rapi,
		"--log-level", "error",
		bootstrap,
	}
	env := append(os.Environ(), "AWS_LAMBDA_FUNCTION_NAME=function", "AWS_LAMBDA_FUNCTION_TIMEOUT=30")
	p, err := startProcess("rie", bin, args, env, filepath.Dir(bootstrap), logDir)
	if err != nil {
		return nil, err
	}
	if err := p.waitListening(ctx, addr, startTimeout); err != nil {
		p.stop()
		return nil, err
	}
	return &Target{Name: "rie", URL: invokeURL(addr, "function"), proc: p, Runtimes: 1}, nil
}

func invokeURL(addr, function string) string {
	return fmt.Sprintf("http://%s/2015-03-31/functions/%s/invocations", addr, function)
}
