package cgsandbox

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
)

func TestReadStatusTellsReadyFromAnErrorOrAnEarlyEnd(t *testing.T) {
	tests := []struct {
		name    string
		written string
		failed  error // reported with ReportError after written
		want    string
		err     string // "" for success
	}{
		{"ready is what a new sandbox's helper says", "ready\n", nil, StatusReady, ""},
		{"the end of the stream is a successful exec", "", nil, "", ""},
		{"an error report is the helper's error, on one line", "", errors.New("exec /var/task/bootstrap:\nno such file"), "",
			"init: exec /var/task/bootstrap: no such file"},
		{"an end before ready says what was awaited", "", nil, StatusReady, "init ended before it was ready"},
		{"anything else is said back", "hello\n", nil, StatusReady, `init said "hello"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			io.WriteString(w, tt.written)
			if tt.failed != nil {
				ReportError(w, tt.failed)
			}
			w.Close()
			err = ReadStatus(context.Background(), r, bufio.NewReader(r), "init", tt.want)
			if tt.err == "" && err != nil || tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
				t.Fatalf("ReadStatus = %v, want %q", err, tt.err)
			}
		})
	}
	t.Run("the end of the context interrupts a helper that says nothing", func(t *testing.T) {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		defer w.Close()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := ReadStatus(ctx, r, bufio.NewReader(r), "init", StatusReady); !errors.Is(err, context.Canceled) {
			t.Fatalf("ReadStatus = %v, want context.Canceled", err)
		}
	})
}
