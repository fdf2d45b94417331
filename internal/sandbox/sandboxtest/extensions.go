package sandboxtest

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ember-serverless/ember/internal/sandbox"
	"github.com/ember-serverless/ember/internal/testenv"
)

// ExtensionsCase is how RunExtensions runs on one backend.
type ExtensionsCase struct {
	MemoryMB       int
	ListenWithin   time.Duration // for the extension to start listening
	RuntimeAPIAddr string        // the backend's AWS_LAMBDA_RUNTIME_API
}

// RunExtensions checks that a backend starts a sandbox's external extensions (here from a
// layer, as the sandbox user, beside the runtime), that the worker can dial into the sandbox
// at sandbox.localdomain through its sandbox.Dialer, and that nothing but the sandbox's own
// loopback is reachable that way. It needs /usr/bin/python3 for the extension's listener.
func RunExtensions(t *testing.T, b sandbox.Backend, caps Capabilities, c ExtensionsCase) {
	testenv.NeedCommand(t, "/usr/bin/python3", "python3") // the extension's listener
	code, layer := CodeDir(t), CodeDir(t)
	files := map[string]string{
		filepath.Join(code, "bootstrap"): "#!/bin/sh\necho runtime-started\nexec sleep 60\n",
		filepath.Join(layer, "extensions", "listener"): "#!/bin/sh\n" +
			"echo \"ext uid=$(id -u) hosts=$(grep -c sandbox.localdomain /etc/hosts) api=$AWS_LAMBDA_RUNTIME_API\"\n" +
			"exec /usr/bin/python3 -c 'import socket\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n" +
			"s.bind((\"sandbox.localdomain\", 8123))\ns.listen()\nprint(\"ext listening\", flush=True)\n" +
			"while True:\n  c,_=s.accept()\n  c.sendall(b\"hello from inside\\n\")\n  c.close()\n'\n",
	}
	for p, content := range files {
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	r, w, _ := os.Pipe()
	defer r.Close()
	sb, err := b.Create(context.Background(), sandbox.Spec{
		ID: "extensions", Runtime: "provided.al2023", CodeDir: code, LayerDirs: []string{layer},
		Command: []string{"/var/task/bootstrap"}, Extensions: [][]string{{"/opt/extensions/listener"}},
		Env: []string{"PATH=/usr/bin:/bin"}, MemoryMB: c.MemoryMB, EphemeralStorageMB: 16, Output: w,
	})
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Destroy(context.Background())
	out := &syncLines{}
	go out.read(r)
	if err := sb.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	d, ok := sb.(sandbox.Dialer)
	if !ok {
		t.Fatalf("a %s sandbox must be a sandbox.Dialer", b.Name())
	}
	testenv.CheckFor(t, c.ListenWithin, 10*time.Millisecond, func() error {
		if !out.has("ext listening") {
			return fmt.Errorf("the extension has not listened; output: %q", out.snapshot())
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), testenv.Scaled(10*time.Second))
	defer cancel()
	conn, err := d.Dial(ctx, "tcp", "sandbox.localdomain:8123")
	if err != nil {
		t.Fatalf("dial into the sandbox: %v", err)
	}
	got, _ := bufio.NewReader(conn).ReadString('\n')
	conn.Close()
	if got != "hello from inside\n" {
		t.Errorf("read %q from the extension's listener", got)
	}
	for _, want := range []string{"ext uid=993 hosts=1 api=" + c.RuntimeAPIAddr, "runtime-started"} {
		if !out.has(want) {
			t.Errorf("output lacks %q: %q", want, out.snapshot())
		}
	}
	if _, err := d.Dial(ctx, "tcp", "127.0.0.1:1"); err == nil {
		t.Error("dialling a closed port in the sandbox should fail")
	}
	if _, err := d.Dial(ctx, "tcp", "10.0.0.1:80"); err == nil {
		t.Error("dialling anything but the sandbox's loopback should fail")
	}
	if err := sb.Destroy(context.Background()); err != nil {
		t.Fatal(err)
	}
	if caps.Leftovers != nil {
		if left := caps.Leftovers("extensions"); len(left) > 0 {
			t.Errorf("destroy left %v", left)
		}
	}
}

// syncLines collects the lines read from a file.
type syncLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *syncLines) read(f *os.File) {
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l.mu.Lock()
		l.lines = append(l.lines, sc.Text())
		l.mu.Unlock()
	}
}

func (l *syncLines) has(s string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range l.lines {
		if strings.Contains(line, s) {
			return true
		}
	}
	return false
}

// snapshot returns a copy of the lines read so far.
func (l *syncLines) snapshot() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.lines)
}
