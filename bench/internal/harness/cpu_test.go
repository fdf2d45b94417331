package harness

import (
	"os"
	"testing"
	"time"

	"github.com/ember-serverless/ember/internal/testenv"
)

func TestParseStatCPU(t *testing.T) {
	tests := []struct {
		name    string
		stat    string
		want    time.Duration
		wantErr bool
	}{
		{"user and system ticks are added", "1234 (floor) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 7 0 1000 0 0",
			3 * time.Second, false},
		{"a command name with spaces and parentheses is skipped whole",
			"99 (a) b (c) R 1 99 99 0 -1 0 0 0 0 0 3 4 0 0 20 0 1 0 1 0 0", 70 * time.Millisecond, false},
		{"a truncated line is an error", "99 (x) R 1 2", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStatCPU(tt.stat)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("parseStatCPU = %v, %v; want %v, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestProcessCPUReadsThisProcess(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		testenv.Need(t, "needs Linux /proc: %v", err)
	}
	if _, err := processCPU(os.Getpid()); err != nil {
		t.Fatal(err)
	}
}
