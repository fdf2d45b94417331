package logs

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ember-serverless/ember/internal/testenv"
)

const awsCLI = "/usr/bin/aws"

// awsCommand runs the real AWS CLI v2 against url with throwaway credentials and no
// configuration from the host.
func awsCommand(t *testing.T, ctx context.Context, url string, args ...string) *exec.Cmd {
	t.Helper()
	testenv.NeedCommand(t, awsCLI, "awscli")
	dir := t.TempDir()
	config, creds := filepath.Join(dir, "config"), filepath.Join(dir, "credentials")
	for _, f := range []string{config, creds} {
		if err := os.WriteFile(f, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.CommandContext(ctx, awsCLI, append(args, "--endpoint-url", url, "--color", "off")...)
	cmd.Env = []string{
		"PATH=/usr/bin:/bin",
		"HOME=" + dir,
		"AWS_ACCESS_KEY_ID=x",
		"AWS_SECRET_ACCESS_KEY=y",
		"AWS_DEFAULT_REGION=us-east-1",
		"AWS_CONFIG_FILE=" + config,
		"AWS_SHARED_CREDENTIALS_FILE=" + creds,
		"AWS_PAGER=",
		"AWS_EC2_METADATA_DISABLED=true",
		"PYTHONUNBUFFERED=1",
	}
	return cmd
}

// tailLine is how `aws logs tail` prints an event in its detailed format.
func tailLine(ev Event) string {
	return ev.Time.UTC().Format("2006-01-02T15:04:05.000000+00:00") + " " + ev.Stream + " " + ev.Message
}

func TestAWSLogsTailPrintsTheGroupsEvents(t *testing.T) {
	s := newTestStore(t)
	f := writeFixture(t, s, 4)
	srv := serve(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"the detailed format shows time, stream and message of every event",
			[]string{"logs", "tail", "/aws/lambda/a"},
			func() (out []string) {
				for _, ev := range f.of("/aws/lambda/a", "") {
					out = append(out, tailLine(ev))
				}
				return out
			}()},
		{"a filter pattern and the short format",
			[]string{"logs", "tail", "/aws/lambda/a", "--since", "1h", "--filter-pattern", "ERROR", "--format", "short"},
			func() (out []string) {
				for _, ev := range f.of("/aws/lambda/a", "") {
					if strings.Contains(ev.Message, "ERROR") {
						out = append(out, ev.Time.UTC().Format("2006-01-02T15:04:05")+" "+ev.Message)
					}
				}
				return out
			}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := awsCommand(t, ctx, srv.URL, tt.args...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("aws %s: %v\n%s", strings.Join(tt.args, " "), err, stderr.String())
			}
			got := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Fatalf("printed\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}

	t.Run("a missing group is reported as CloudWatch reports it", func(t *testing.T) {
		cmd := awsCommand(t, ctx, srv.URL, "logs", "tail", "/aws/lambda/none")
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "ResourceNotFoundException") || !strings.Contains(string(out), "The specified log group does not exist.") {
			t.Fatalf("got %v: %s", err, out)
		}
	})
}

// printed reports, as testenv.CheckFor's condition, whether aws logs tail has printed every
// one of events.
func printed(stdout, stderr *testenv.Buffer, events ...Event) error {
	out := stdout.String()
	for _, ev := range events {
		if !strings.Contains(out, tailLine(ev)) {
			return fmt.Errorf("aws logs tail has not printed %q:\n%s%s", tailLine(ev), out, stderr.String())
		}
	}
	return nil
}

func TestAWSLogsTailFollowShowsNewEventsOnce(t *testing.T) {
	s := newTestStore(t)
	f := writeFixture(t, s, 3)
	srv := serve(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	cmd := awsCommand(t, ctx, srv.URL, "logs", "tail", "/aws/lambda/a", "--follow", "--since", "10m")
	var stdout, stderr testenv.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	old := f.of("/aws/lambda/a", "")
	testenv.CheckFor(t, time.Minute, 10*time.Millisecond, func() error { return printed(&stdout, &stderr, old[len(old)-1]) })

	// New events, one sharing the newest timestamp seen so far, arrive while the CLI polls
	// every five seconds from that timestamp, dropping event ids it has shown.
	fresh := []Event{
		{Group: "/aws/lambda/a", Stream: "late", Time: old[len(old)-1].Time, Message: "same millisecond as the last"},
		{Group: "/aws/lambda/a", Stream: "late", Time: time.Now().Truncate(time.Millisecond), Message: "fresh event"},
	}
	for _, ev := range fresh {
		s.Write(ev)
	}
	flush(t, s)
	testenv.CheckFor(t, time.Minute, 10*time.Millisecond, func() error { return printed(&stdout, &stderr, fresh...) })
	out := stdout.String()
	for _, ev := range append(old, fresh...) {
		if n := strings.Count(out, tailLine(ev)+"\n"); n != 1 {
			t.Errorf("%q printed %d times, want once:\n%s", ev.Message, n, out)
		}
	}
	if strings.Count(out, "\n") != len(old)+len(fresh) {
		t.Errorf("printed %d lines, want %d:\n%s", strings.Count(out, "\n"), len(old)+len(fresh), out)
	}
}
