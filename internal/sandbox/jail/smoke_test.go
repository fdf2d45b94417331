//go:build linux

package jail

import (
	"context"
	"os"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	MaybeRunInit()
	os.Exit(m.Run())
}

func TestSmoke(t *testing.T) {
	state, _ := os.MkdirTemp("", "ember-jail")
	os.Chmod(state, 0o755)
	defer os.RemoveAll(state)
	b, err := New(Config{StateDir: state, Cgroups: cgroupsCfg()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	code := t.TempDir()
	os.Chmod(code, 0o755)
	r, w, _ := os.Pipe()
	ctx := context.Background()
	t0 := time.Now()
	sb, err := b.Create(ctx, specFor("smoke", code, w, []string{"/bin/sh", "-c", "echo hi; id; ls /; cat /proc/self/status | grep -i -E 'cap|seccomp|nonew'; cat /proc/self/uid_map /proc/self/cgroup; ls /proc; hostname; ls -la /tmp /var/task; exit 3"}))
	if err != nil {
		t.Fatal(err)
	}
	t.Log("create", time.Since(t0))
	if err := sb.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Log("start", time.Since(t0))
	<-sb.Done()
	w.Close()
	out, _ := io_ReadAll(r)
	t.Logf("exit %+v\n%s", sb.Exit(), out)
	if err := sb.Destroy(ctx); err != nil {
		t.Fatal(err)
	}
}
