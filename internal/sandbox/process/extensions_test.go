package process

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ember-serverless/ember/internal/sandbox"
	"github.com/ember-serverless/ember/internal/testenv"
)

func TestExtensionsStartWithTheRuntimesEnvironmentAndDieWithIt(t *testing.T) {
	code := writeTree(t, map[string]string{"bootstrap": "#!/bin/sh\necho runtime-started\nexec sleep 60\n"})
	layer := writeTree(t, map[string]string{"extensions/ext": "#!/bin/sh\necho \"ext pid=$$ api=$AWS_LAMBDA_RUNTIME_API fn=$AWS_LAMBDA_FUNCTION_NAME\"\nexec sleep 60\n"})
	for _, p := range []string{filepath.Join(code, "bootstrap"), filepath.Join(layer, "extensions/ext")} {
		os.Chmod(p, 0o755)
	}
	r, w, _ := os.Pipe()
	defer r.Close()
	sb, err := New().Create(context.Background(), sandbox.Spec{
		ID: "ext", CodeDir: code, LayerDirs: []string{layer}, Command: []string{"/var/task/bootstrap"},
		Extensions: [][]string{{"/opt/extensions/ext"}}, Env: []string{"AWS_LAMBDA_FUNCTION_NAME=fn", "PATH=/usr/bin:/bin"},
		Output: w,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Destroy(context.Background())
	if err := sb.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	w.Close()
	lines := make(chan string, 10)
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	pid := 0
	timeout := time.After(10 * time.Second)
	for pid == 0 {
		select {
		case l := <-lines:
			if rest, ok := strings.CutPrefix(l, "ext pid="); ok {
				f := strings.Fields(rest)
				pid, _ = strconv.Atoi(f[0])
				if want := "api=" + sb.RuntimeAPI().Addr().String(); f[1] != want || f[2] != "fn=fn" {
					t.Errorf("extension environment %q, want %s fn=fn", l, want)
				}
			}
		case <-timeout:
			t.Fatal("the extension never started")
		}
	}
	if err := sb.Destroy(context.Background()); err != nil {
		t.Fatal(err)
	}
	testenv.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("extension %d outlives its sandbox (kill 0: %v)", pid, err)
		}
		return nil
	})
}

func TestDialReachesSandboxLocaldomainOnLoopback(t *testing.T) {
	sb, err := New().Create(context.Background(), sandbox.Spec{ID: "dial", CodeDir: t.TempDir(), Command: []string{"/bin/true"}})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Destroy(context.Background())
	port := sb.RuntimeAPI().Addr().String()
	_, p, _ := strings.Cut(port, ":")
	c, err := sb.(sandbox.Dialer).Dial(context.Background(), "tcp", "sandbox.localdomain:"+p)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}
