package sandboxtest

import (
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ember-serverless/ember/internal/sandbox"
)

// escapes are the attempts the hostile function makes; each must be contained.
var escapes = []string{
	"read host files",
	"read the server's data directory",
	"read another function's code",
	"see host paths in its mount table",
	"write host directories",
	"list host processes",
	"signal the server",
	"connect to the server's port on loopback",
	"see non-loopback interfaces",
	"write /var/task",
	"write /proc/sys",
	"read the kernel log",
	"mount",
	"unshare",
	"ptrace",
	"bpf",
	"load kernel modules",
	"set the host name",
	"fill /tmp past its limit",
	"have capabilities",
	"lack no_new_privs",
	"run without seccomp",
	"run as host root",
}

// RunEscape is the escape suite for isolating backends: a hostile function tries to read
// host files, the server's data directory and another function's code, list and signal host
// processes, reach the server's port, see host interfaces, write its code and /proc/sys,
// mount, unshare, ptrace, load BPF and kernel modules, and fill /tmp; it checks its
// capabilities are empty, no_new_privs and seccomp are set, and it is not host root. Every
// attempt must be contained.
//
// The attempts are built to do no harm if they succeed (mounts and host names are undone,
// /tmp is filled to a bound), but a backend that does not isolate would still let the
// function act on the host as the server's user, so RunEscape refuses to run for one.
func RunEscape(t *testing.T, newBackend func(t *testing.T) sandbox.Backend, caps Capabilities) {
	if !caps.Isolated {
		t.Skip("the escape suite runs only against isolating backends: without isolation the hostile function acts on the host")
	}
	h := &Harness{Backend: newBackend(t), Caps: caps, CodeDir: BuildRuntime(t)}

	// Host secrets any local user could read: only isolation keeps them from the function.
	open := func(t *testing.T) string {
		d, err := os.MkdirTemp("", "ember-escape-")
		if err != nil {
			t.Fatal(err)
		}
		os.Chmod(d, 0o777)
		t.Cleanup(func() { os.RemoveAll(d) })
		return d
	}
	dataDir, otherCode := open(t), open(t)
	dataFile, codeFile := filepath.Join(dataDir, "jetstream-secret"), filepath.Join(otherCode, "bootstrap")
	secrets := []string{dataFile, codeFile}
	for _, f := range secrets {
		if err := os.WriteFile(f, []byte("secret"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A second function runs beside the hostile one, from its own code directory.
	neighbourCode := CodeDir(t)
	if err := copyFile(filepath.Join(h.CodeDir, "bootstrap"), filepath.Join(neighbourCode, "bootstrap")); err != nil {
		t.Fatal(err)
	}
	neighbour := h.Start(t, Options{CodeDir: neighbourCode})
	neighbour.Invoke(t, Event{Op: "echo", Value: "neighbour"})

	srv, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	go func() {
		for {
			c, err := srv.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()

	const tmpMB = 32
	hostile := h.Start(t, Options{MemoryMB: 256, EphemeralStorageMB: tmpMB})
	exe, _ := os.Executable()
	res := hostile.Invoke(t, Event{Op: "escape", Escape: &EscapeParams{
		HostFiles:     []string{"/etc/shadow", "/etc/machine-id", "/root/.bash_history", "/var/log/dpkg.log"},
		DataFiles:     []string{dataFile},
		OtherCode:     []string{codeFile, filepath.Join(neighbourCode, "bootstrap")},
		HostDirs:      []string{dataDir, otherCode},
		ServerAddr:    srv.Addr().String(),
		ServerPid:     os.Getpid(),
		ServerCmdline: filepath.Base(exe),
		TmpLimitMB:    tmpMB,
		HostPaths:     []string{dataDir, h.CodeDir, neighbourCode},
	}}).Results
	for _, name := range escapes {
		t.Run("the function cannot "+name, func(t *testing.T) {
			got, ok := res[name]
			if !ok {
				t.Fatalf("the function did not try")
			}
			if name == "run as host root" && caps.UserSpaceKernel && strings.HasPrefix(got, "host root is mapped") {
				t.Logf("inside, %s: that is the user-space kernel's own map; judging from the host", got)
				uids := caps.HostUIDs(hostile.ID)
				if len(uids) == 0 {
					t.Fatal("HostUIDs found no process running the sandbox")
				}
				if slices.Contains(uids, 0) {
					t.Errorf("ESCAPED: the sandbox runs as host root (host uids %v)", uids)
				}
				return
			}
			if got != "" {
				t.Errorf("ESCAPED: %s", got)
			}
		})
	}
	for name := range res {
		if !slices.Contains(escapes, name) {
			t.Errorf("unchecked attempt %q: %q", name, res[name])
		}
	}
	for _, f := range secrets {
		if b, err := os.ReadFile(f); err != nil || string(b) != "secret" {
			t.Errorf("%s was changed: %q, %v", f, b, err)
		}
	}
	if ents, _ := os.ReadDir(dataDir); len(ents) != 1 {
		t.Errorf("the data dir holds %d files", len(ents))
	}
	if got := neighbour.Invoke(t, Event{Op: "echo", Value: "ok"}); got.Value != "ok" {
		t.Errorf("the neighbour answered %+v", got)
	}
}

func copyFile(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, b, 0o755)
}
