//go:build linux

package gvisor

import (
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
)

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
		fmt.Fprintf(ctl, "error: %s\n", strings.ReplaceAll(err.Error(), "\n", " "))
		os.Exit(127)
	}
	ln, err := net.Listen("tcp", RuntimeAPIAddr)
	if err != nil {
		fail(fmt.Errorf("runtime API listener: %w", err))
	}
	env := make([]string, 0, len(os.Environ()))
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, shimEnv+"=") {
			env = append(env, kv)
		}
	}
	if len(os.Args) < 2 {
		fail(errors.New("no command"))
	}
	path, err := lookPath(os.Args[1], env)
	if err != nil {
		fail(err)
	}
	if _, err := io.WriteString(ctl, "ready\n"); err != nil {
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
	defer up.Close()
	done := make(chan struct{})
	go func() {
		io.Copy(up, c)
		up.(*net.UnixConn).CloseWrite()
		close(done)
	}()
	io.Copy(c, up)
	c.(*net.TCPConn).CloseWrite()
	<-done
}

// lookPath resolves the runtime command the way execvp would, using the runtime's PATH.
func lookPath(name string, env []string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	path := "/usr/local/bin:/usr/bin:/bin"
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	for _, dir := range filepath.SplitList(path) {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("exec %s: not found in PATH", name)
}
