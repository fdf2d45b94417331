package e2e

import (
	"archive/zip"
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Built once by TestMain.
var (
	// emberBin is the path of the freshly built `ember` binary.
	emberBin string
	// functionDirs maps a test function's name to a directory holding only its `bootstrap`.
	functionDirs = map[string]string{}
	// functionZips maps a test function's name to its deployment zip.
	functionZips = map[string][]byte{}
)

// testFunctions are the directories under test/functions.
var testFunctions = []string{"echo", "context", "error", "panic", "sleep", "exit", "initfail", "logs", "counter", "oom", "attack", "batch"}

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	flag.Parse()
	if testing.Short() {
		fmt.Println("e2e: skipped with -short (it builds ember and runs real servers)")
		return 0
	}
	dir, err := os.MkdirTemp("", "ember-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	if err := build(dir); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: building:", err)
		return 1
	}
	code := m.Run()
	stopSharedServer()
	return code
}

// moduleRoot is the directory holding go.mod.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("not inside the module")
	}
	return filepath.Dir(gomod), nil
}

// build compiles the ember binary and every test function into dir, and zips the functions.
func build(dir string) error {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	// ember-init beside ember, as `make build` puts it: the server starts its sandboxes with it.
	emberBin = filepath.Join(dir, "ember")
	for _, pkg := range []string{"ember", "ember-init"} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, pkg), "./cmd/"+pkg)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build ./cmd/%s: %w\n%s", pkg, err, out)
		}
	}

	bins := filepath.Join(dir, "functions")
	if err := os.MkdirAll(bins, 0o755); err != nil {
		return err
	}
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags", "-s -w", "-o", bins+"/", "./test/functions/...")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./test/functions/...: %w\n%s", err, out)
	}
	for _, name := range testFunctions {
		bin, err := os.ReadFile(filepath.Join(bins, name))
		if err != nil {
			return err
		}
		fnDir := filepath.Join(dir, "fn", name)
		if err := os.MkdirAll(fnDir, 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(fnDir, "bootstrap"), bin, 0o755); err != nil {
			return err
		}
		functionDirs[name] = fnDir
		z, err := zipFiles(zipEntry{name: "bootstrap", mode: 0o755, body: bin})
		if err != nil {
			return err
		}
		functionZips[name] = z
	}
	return nil
}

// zipEntry is one file of a hand-made zip.
type zipEntry struct {
	name string
	mode os.FileMode
	body []byte
	// method is zip.Deflate unless set.
	method uint16
}

// zipFiles builds a zip holding entries, in order.
func zipFiles(entries ...zipEntry) ([]byte, error) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate}
		if e.method != 0 {
			h.Method = e.method
		}
		h.SetMode(e.mode)
		w, err := zw.CreateHeader(h)
		if err != nil {
			return nil, err
		}
		if _, err := w.Write(e.body); err != nil {
			return nil, err
		}
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// The shared server most tests use; started by the first test that asks for it.
var shared struct {
	once sync.Once
	srv  *emberServer
	err  error
}

// sharedServer returns the server shared by tests whose state does not interfere (each uses
// its own function names).
func sharedServer(t *testing.T) *emberServer {
	t.Helper()
	shared.once.Do(func() {
		dir, err := os.MkdirTemp("", "ember-e2e-shared-")
		if err != nil {
			shared.err = err
			return
		}
		shared.srv, shared.err = startServer(dir, true)
	})
	if shared.err != nil {
		t.Fatalf("starting the shared server: %v", shared.err)
	}
	shared.srv.logOnFailure(t)
	return shared.srv
}

func stopSharedServer() {
	if shared.srv != nil {
		shared.srv.stop()
		os.RemoveAll(shared.srv.DataDir)
	}
}
