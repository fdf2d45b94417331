//go:build linux

package gvisor

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/ember-serverless/ember/internal/sandbox/cgsandbox"
)

// The shim is the server's own binary, run as the container's first process with this
// environment variable set; the proxy it leaves behind is the same binary again.
const (
	shimEnv    = "_EMBER_GVISOR_SHIM"
	shimMagic  = "1"
	proxyMagic = "proxy"
	proxyArg0  = "ember-gvisor-proxy"
)

// Paths inside the sandbox.
const (
	shimPath   = "/.ember-init" // the server's binary, read-only
	socketDir  = "/.ember"      // the sandbox's own host directory
	apiSocket  = "api.sock"     // the Runtime API, served by the worker
	ctrlSocket = "ctl.sock"     // "ready" / "error: ...", then one byte to start
	dialSocket = "dial.sock"    // the proxy's way back in: the server's Dial into the sandbox
)

// extEnv carries the extensions to start, as JSON, to the shim; it is not passed on.
const extEnv = "_EMBER_GVISOR_EXTENSIONS"

// MaybeRunShim turns the process into a gVisor sandbox's shim or Runtime API proxy when the
// backend started it; it never returns then. Otherwise it returns at once. main and TestMain
// must call it first.
func MaybeRunShim() {
	switch os.Getenv(shimEnv) {
	case shimMagic:
		runShim()
	case proxyMagic:
		runProxy()
	}
}

// runShim opens the Runtime API address on the sandbox's loopback, tells the server it is
// ready, waits for Start, starts the proxy and becomes the runtime.
func runShim() {
	ctl, err := net.Dial("unix", filepath.Join(socketDir, ctrlSocket))
	if err != nil {
		fmt.Fprintf(os.Stderr, "ember-gvisor-shim: control socket: %v\n", err)
		os.Exit(127)
	}
	fail := func(err error) {
		cgsandbox.ReportError(ctl, err)
		os.Exit(127)
	}
	ln, err := net.Listen("tcp", RuntimeAPIAddr)
	if err != nil {
		fail(fmt.Errorf("runtime API listener: %w", err))
	}
	env := make([]string, 0, len(os.Environ()))
	var exts [][]string
	for _, kv := range os.Environ() {
		if v, ok := strings.CutPrefix(kv, extEnv+"="); ok {
			if err := json.Unmarshal([]byte(v), &exts); err != nil {
				fail(fmt.Errorf("extensions: %w", err))
			}
			continue
		}
		if !strings.HasPrefix(kv, shimEnv+"=") {
			env = append(env, kv)
		}
	}
	if len(os.Args) < 2 {
		fail(errors.New("no command"))
	}
	path, err := cgsandbox.LookPath(os.Args[1], env)
	if err != nil {
		fail(err)
	}
	extPaths := make([]string, len(exts))
	for i, e := range exts {
		if len(e) == 0 {
			fail(errors.New("an extension without a command"))
		}
		if extPaths[i], err = cgsandbox.LookPath(e[0], env); err != nil {
			fail(err)
		}
	}
	if _, err := io.WriteString(ctl, cgsandbox.StatusReady+"\n"); err != nil {
		os.Exit(127)
	}
	var b [1]byte
	if n, _ := ctl.Read(b[:]); n != 1 {
		os.Exit(0) // destroyed before it was started
	}
	lnFile, err := ln.(*net.TCPListener).File()
	if err != nil {
		fail(err)
	}
	proxy := &exec.Cmd{
		Path:       "/proc/self/exe",
		Args:       []string{proxyArg0},
		Env:        []string{shimEnv + "=" + proxyMagic},
		Stdout:     os.Stderr,
		Stderr:     os.Stderr,
		ExtraFiles: []*os.File{lnFile},
	}
	if err := proxy.Start(); err != nil {
		fail(fmt.Errorf("runtime API proxy: %w", err))
	}
	// Nothing the shim holds may reach the runtime; the control socket closes on exec, which
	// is how the server learns the runtime started.
	if err := closeOnExec(); err != nil {
		fail(fmt.Errorf("close descriptors: %w", err))
	}
	// Extensions start just before the runtime, as its children once it has replaced the
	// shim: the sandbox's pid 1, whose end ends them too.
	for i, e := range exts {
		attr := &syscall.ProcAttr{Env: env, Files: []uintptr{0, 1, 2}}
		if _, err := syscall.ForkExec(extPaths[i], e, attr); err != nil {
			fail(fmt.Errorf("start extension %s: %w", e[0], err))
		}
	}
	err = syscall.Exec(path, os.Args[1:], env)
	fail(fmt.Errorf("exec %s: %w", os.Args[1], err))
}

// closeOnExec marks every descriptor above stderr close-on-exec. gVisor's close_range has no
// CLOSE_RANGE_CLOEXEC, so this walks /proc/self/fd.
func closeOnExec() error {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return err
	}
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil || fd < 3 {
			continue
		}
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC); err != nil && err != unix.EBADF {
			return err
		}
	}
	return nil
}

// runProxy forwards every connection to the Runtime API address to the worker's socket.
func runProxy() {
	ln, err := net.FileListener(os.NewFile(3, "listener"))
	if err != nil {
		fmt.Fprintf(os.Stderr, "ember-gvisor-proxy: %v\n", err)
		os.Exit(1)
	}
	target := filepath.Join(socketDir, apiSocket)
	go serveDials()
	for {
		c, err := ln.Accept()
		if err != nil {
			os.Exit(1)
		}
		go forward(c, target)
	}
}

func forward(c net.Conn, target string) {
	defer c.Close()
	up, err := net.Dial("unix", target)
	if err != nil {
		return
	}
	splice(c, up)
}

// splice copies both ways until both directions end, passing each end of file on.
func splice(a, b net.Conn) {
	defer b.Close()
	done := make(chan struct{})
	go func() {
		io.Copy(b, a)
		closeWrite(b)
		close(done)
	}()
	io.Copy(a, b)
	closeWrite(a)
	<-done
}

func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
}

// serveDials connects to the server's dial socket and, for every "PORT ID" line the server
// sends, dials 127.0.0.1:PORT inside the sandbox and hands the connection back on a new
// connection to the same socket that starts with "conn ID" and the dial's error, if any.
func serveDials() {
	path := filepath.Join(socketDir, dialSocket)
	ctl, err := net.Dial("unix", path)
	if err != nil {
		return
	}
	if _, err := io.WriteString(ctl, "ctl\n"); err != nil {
		return
	}
	sc := bufio.NewScanner(ctl)
	for sc.Scan() {
		var port, id int
		if _, err := fmt.Sscanf(sc.Text(), "%d %d", &port, &id); err != nil {
			continue
		}
		go func() {
			back, err := net.Dial("unix", path)
			if err != nil {
				return
			}
			in, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
			if err != nil {
				fmt.Fprintf(back, "conn %d %s\n", id, strings.ReplaceAll(err.Error(), "\n", " "))
				back.Close()
				return
			}
			fmt.Fprintf(back, "conn %d\n", id)
			splice(in, back)
			in.Close()
		}()
	}
}
