// Command testruntime is the function the sandbox conformance and escape suites run inside a
// sandbox. It is an ordinary aws-lambda-go function whose event says what to do: echo, report
// its environment, sleep, crash, allocate memory, fork without bound, spin (in the background,
// or for a while, reporting the CPU time used), fill /tmp, or try a list of escapes and report
// which were contained. Tests build it with CGO_ENABLED=0 and
// -tags lambda.norpc; it is not part of Ember.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"runtime"
	"syscall"
	"time"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/ember-serverless/ember/internal/sandbox/sandboxtest/testproto"
)

// Event and Result are the protocol the suites speak with the function.
type (
	Event  = testproto.Event
	Result = testproto.Result
)

var hog [][]byte

func handle(_ context.Context, ev Event) (Result, error) {
	switch ev.Op {
	case "echo":
		fmt.Println("testruntime: echo", ev.Value)
		return Result{Value: ev.Value}, nil
	case "env":
		return Result{Value: os.Getenv(ev.Value)}, nil
	case "random":
		// A secret made now: clones of one snapshot must not make the same.
		b := make([]byte, 16)
		if _, err := rand.Read(b); err != nil {
			return Result{}, err
		}
		return Result{Value: hex.EncodeToString(b)}, nil
	case "sleep":
		// A hung function: it ignores its deadline.
		time.Sleep(time.Duration(ev.Millis) * time.Millisecond)
		return Result{}, nil
	case "crash":
		fmt.Println("testruntime: crashing with", ev.Code)
		os.Exit(ev.Code)
	case "alloc":
		// Touch every page so that the memory is really used.
		for i := 0; i < ev.MB; i++ {
			b := make([]byte, 1<<20)
			for j := 0; j < len(b); j += 4096 {
				b[j] = 1
			}
			hog = append(hog, b)
		}
		return Result{Count: len(hog)}, nil
	case "free":
		hog = nil
		runtime.GC()
		return Result{}, nil
	case "fork":
		n, err := forkBomb(ev.Code)
		return Result{Count: n, Err: errString(err)}, nil
	case "spin":
		for range max(ev.Code, 1) {
			go func() {
				//lint:ignore SA5002 spinning is what a noisy neighbour does
				for {
				}
			}()
		}
		return Result{}, nil
	case "burn":
		// CPU time used by a Millis-long spin of the function and Code children.
		n, err := burn(ev.Millis, ev.Code)
		return Result{Count: n, Err: errString(err)}, nil
	case "fill_tmp":
		n, err := fillTmp(int64(ev.MB) << 20)
		return Result{Count: int(n >> 20), Err: errString(err)}, nil
	case "escape":
		if ev.Escape == nil {
			return Result{}, errors.New("escape: no escape params")
		}
		return Result{Results: tryEscapes(*ev.Escape)}, nil
	}
	return Result{}, errors.New("unknown op " + ev.Op)
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errnoName(errno)
	}
	return err.Error()
}

// fillTmp writes to /tmp until the write fails or limit bytes are written (zero: 64 GiB).
func fillTmp(limit int64) (int64, error) {
	if limit <= 0 {
		limit = 64 << 30
	}
	f, err := os.Create("/tmp/fill")
	if err != nil {
		return 0, err
	}
	defer os.Remove("/tmp/fill")
	defer f.Close()
	buf := make([]byte, 1<<20)
	var n int64
	for {
		w, err := f.Write(buf)
		n += int64(w)
		if err != nil {
			return n, err
		}
		if n >= limit {
			return n, errors.New("no limit reached")
		}
	}
}

func main() {
	maybeBurn()
	lambda.Start(handle)
}
