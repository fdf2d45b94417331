//go:build linux

package jail

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/ember-serverless/ember/internal/sandbox"
)

// The spawner is a small helper process that starts every sandbox's init for the server.
//
// Starting a process in a new user namespace, Go cannot vfork: it forks, which copies the
// forking process's page tables, tears the copy down again at exec, and leaves the parent to
// take a copy-on-write fault (and a TLB flush on the other CPUs) on every page it writes next.
// Forked from the server, that was over a third of all the CPU spent creating sandboxes here,
// and it grows with the server's memory. Forked from the spawner, which holds a few MiB, it
// is cheap. The spawner is the init program (Config.InitPath, or the server's own binary) in
// another role: it starts inits as its own /proc/self/exe.
//
// It talks to the server over a SOCK_SEQPACKET socket: a request is a spawnRequest with the
// init's output and extra files attached; the answer is a spawnReply with the init's pidfd
// attached; and when an init exits, the spawner (its parent) reaps it and sends an exit
// message. The spawner dies with the server (parent-death signal from a thread that never
// ends), and the inits with the spawner.

const spawnerMagic = "spawner"

type spawnRequest struct {
	ID   int      `json:"id"`
	Args []string `json:"args"`
	Base uint32   `json:"base"`
}

type spawnMessage struct {
	ID     int    `json:"id"` // the request answered, or whose init has exited
	Pid    int    `json:"pid,omitempty"`
	Err    string `json:"err,omitempty"`
	Exited bool   `json:"exited,omitempty"` // the init has exited
	Code   int    `json:"code,omitempty"`
	Signal string `json:"signal,omitempty"`
}

// initAttr is how an init is started: new user, pid, mount, network, ipc and uts namespaces,
// as the namespace's root mapped to the sandbox's own range of host ids.
func initAttr(base uint32) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWUSER | syscall.CLONE_NEWPID | syscall.CLONE_NEWNS |
			syscall.CLONE_NEWNET | syscall.CLONE_NEWIPC | syscall.CLONE_NEWUTS,
		UidMappings:                []syscall.SysProcIDMap{{ContainerID: 0, HostID: int(base), Size: idSpan}},
		GidMappings:                []syscall.SysProcIDMap{{ContainerID: 0, HostID: int(base), Size: idSpan}},
		GidMappingsEnableSetgroups: true,
		// Become the namespace's root (a host uid of the sandbox's own range) so that the
		// init may set up mounts; it drops to SandboxUID before the runtime runs.
		Credential: &syscall.Credential{Uid: 0, Gid: 0},
		Pdeathsig:  syscall.SIGKILL,
	}
}

// runSpawner is the spawner's main loop; it returns only when the server is gone.
func runSpawner() error {
	f := os.NewFile(3, "spawner")
	c, err := net.FileConn(f)
	f.Close()
	if err != nil {
		return err
	}
	conn := c.(*net.UnixConn)
	var wmu sync.Mutex
	send := func(m spawnMessage, fds ...int) {
		b, _ := json.Marshal(m)
		var oob []byte
		if len(fds) > 0 {
			oob = unix.UnixRights(fds...)
		}
		wmu.Lock()
		conn.WriteMsgUnix(b, oob, nil)
		wmu.Unlock()
	}
	buf := make([]byte, 64<<10)
	oob := make([]byte, unix.CmsgSpace(64*4))
	for {
		n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
		if errors.Is(err, io.EOF) || err == nil && n == 0 {
			return nil // the server is done with it
		}
		if err != nil {
			return err
		}
		files := receivedFiles(oob[:oobn])
		var req spawnRequest
		if err := json.Unmarshal(buf[:n], &req); err != nil || len(files) == 0 {
			closeAll(files)
			send(spawnMessage{ID: req.ID, Err: fmt.Sprintf("bad request (%d files): %v", len(files), err)})
			continue
		}
		go spawnInit(req, files, send) // forks in parallel: one may wait on a slow exec
	}
}

// spawnInit starts one init and answers for it, then reports its exit.
func spawnInit(req spawnRequest, files []*os.File, send func(spawnMessage, ...int)) {
	cmd := &exec.Cmd{
		Path:        "/proc/self/exe",
		Args:        req.Args,
		Env:         []string{initEnv + "=" + initMagic},
		Stdout:      files[0],
		Stderr:      files[0],
		ExtraFiles:  files[1:],
		SysProcAttr: initAttr(req.Base),
	}
	err := cmd.Start()
	closeAll(files)
	if err != nil {
		send(spawnMessage{ID: req.ID, Err: err.Error()})
		return
	}
	pid := cmd.Process.Pid
	// Opened before Wait can reap the init, the pidfd names it for sure.
	if pidfd, err := unix.PidfdOpen(pid, 0); err == nil {
		send(spawnMessage{ID: req.ID, Pid: pid}, pidfd)
		unix.Close(pidfd)
	} else {
		send(spawnMessage{ID: req.ID, Pid: pid})
	}
	st := sandbox.ExitStatusOf(cmd.Wait())
	send(spawnMessage{ID: req.ID, Pid: pid, Exited: true, Code: st.Code, Signal: st.Signal})
}

func receivedFiles(oob []byte) []*os.File {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil
	}
	var files []*os.File
	for _, m := range msgs {
		fds, err := unix.ParseUnixRights(&m)
		if err != nil {
			continue
		}
		for _, fd := range fds {
			unix.CloseOnExec(fd)
			files = append(files, os.NewFile(uintptr(fd), "received"))
		}
	}
	return files
}

func closeAll(files []*os.File) {
	for _, f := range files {
		f.Close()
	}
}

// spawner is the server's side of the spawner.
type spawner struct {
	cmd    *exec.Cmd
	conn   *net.UnixConn
	wmu    sync.Mutex
	closed chan struct{} // ends the thread that started the spawner

	mu      sync.Mutex
	nextID  int
	replies map[int]chan spawned
	exits   map[int]chan sandbox.ExitStatus // by request, made by whichever side comes first
	gone    error                           // set when the spawner has ended
}

type spawned struct {
	pid   int
	pidfd *os.File
	err   error
}

// startSpawner starts the spawner from the init program: init is the opened program, or nil
// for the server's own binary.
func startSpawner(init *os.File) (*spawner, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("jail: spawner socket: %w", err)
	}
	ours, theirs := os.NewFile(uintptr(fds[0]), "spawner"), os.NewFile(uintptr(fds[1]), "spawner")
	defer theirs.Close()
	c, err := net.FileConn(ours)
	ours.Close()
	if err != nil {
		return nil, fmt.Errorf("jail: spawner socket: %w", err)
	}
	sp := &spawner{conn: c.(*net.UnixConn), closed: make(chan struct{}),
		replies: map[int]chan spawned{}, exits: map[int]chan sandbox.ExitStatus{}}
	cmd := &exec.Cmd{
		Path:        "/proc/self/exe",
		Args:        []string{initArg0, "spawner"},
		Env:         []string{initEnv + "=" + spawnerMagic},
		Stderr:      os.Stderr,
		ExtraFiles:  []*os.File{theirs},
		SysProcAttr: &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL},
	}
	if init != nil {
		cmd.ExtraFiles = append(cmd.ExtraFiles, init)
		cmd.Path = "/proc/self/fd/4"
	}
	// The parent-death signal fires when the thread that started the spawner ends, not the
	// server: start it from a thread kept for that alone, until Close.
	started := make(chan error)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		started <- cmd.Start()
		<-sp.closed
	}()
	if err := <-started; err != nil {
		sp.conn.Close()
		close(sp.closed)
		return nil, fmt.Errorf("jail: start spawner: %w", err)
	}
	sp.cmd = cmd
	go sp.read()
	return sp, nil
}

// read dispatches the spawner's messages until it ends.
func (sp *spawner) read() {
	buf := make([]byte, 64<<10)
	oob := make([]byte, unix.CmsgSpace(4*4))
	for {
		n, oobn, _, _, err := sp.conn.ReadMsgUnix(buf, oob)
		if err != nil || n == 0 {
			sp.end(fmt.Errorf("jail: the spawner has ended: %v", err))
			return
		}
		files := receivedFiles(oob[:oobn])
		var m spawnMessage
		if err := json.Unmarshal(buf[:n], &m); err != nil {
			closeAll(files)
			continue
		}
		sp.mu.Lock()
		if m.Exited {
			sp.exitChan(m.ID) <- sandbox.ExitStatus{Code: m.Code, Signal: m.Signal} // once per request
		} else if ch, ok := sp.replies[m.ID]; ok {
			delete(sp.replies, m.ID)
			r := spawned{pid: m.Pid}
			if m.Err != "" {
				r.err = errors.New(m.Err)
			}
			if len(files) > 0 {
				r.pidfd, files = files[0], files[1:]
			}
			ch <- r
		}
		sp.mu.Unlock()
		closeAll(files)
	}
}

// end fails what waits on the spawner: its inits died with it (parent-death signal).
func (sp *spawner) end(err error) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	sp.gone = err
	for id, ch := range sp.replies {
		ch <- spawned{err: err}
		delete(sp.replies, id)
	}
	for id, ch := range sp.exits {
		select {
		case ch <- sandbox.ExitStatus{Code: -1, Signal: "killed"}:
		default:
		}
		delete(sp.exits, id)
	}
}

// exitChan is the exit channel of request id's init; sp.mu is held.
func (sp *spawner) exitChan(id int) chan sandbox.ExitStatus {
	ch, ok := sp.exits[id]
	if !ok {
		ch = make(chan sandbox.ExitStatus, 1)
		sp.exits[id] = ch
	}
	return ch
}

// spawn starts an init with output as its stdout and stderr and extra as its descriptors 3
// and on, in namespaces mapped to the host ids from base. It returns the init's pid and pidfd
// (nil where the kernel has no pidfds), and the request's id to wait for the init with.
func (sp *spawner) spawn(args []string, base uint32, output *os.File, extra []*os.File) (pid int, pidfd *os.File, id int, err error) {
	sp.mu.Lock()
	if sp.gone != nil {
		sp.mu.Unlock()
		return 0, nil, 0, sp.gone
	}
	sp.nextID++
	id = sp.nextID
	ch := make(chan spawned, 1)
	sp.replies[id] = ch
	sp.mu.Unlock()

	b, _ := json.Marshal(spawnRequest{ID: id, Args: args, Base: base})
	fds := []int{int(output.Fd())}
	for _, f := range extra {
		fds = append(fds, int(f.Fd()))
	}
	sp.wmu.Lock()
	_, _, err = sp.conn.WriteMsgUnix(b, unix.UnixRights(fds...), nil)
	sp.wmu.Unlock()
	runtime.KeepAlive(output)
	runtime.KeepAlive(extra)
	if err != nil {
		sp.mu.Lock()
		delete(sp.replies, id)
		sp.mu.Unlock()
		return 0, nil, 0, fmt.Errorf("jail: spawner: %w", err)
	}
	r := <-ch
	if r.err != nil {
		return 0, nil, 0, fmt.Errorf("jail: start init: %w", r.err)
	}
	return r.pid, r.pidfd, id, nil
}

// ended says why the spawner has ended, or nil while it runs.
func (sp *spawner) ended() error {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	return sp.gone
}

// wait returns when the init of request id has exited, with how.
func (sp *spawner) wait(id int) sandbox.ExitStatus {
	sp.mu.Lock()
	ch := sp.exitChan(id)
	gone := sp.gone
	sp.mu.Unlock()
	if gone != nil {
		select {
		case st := <-ch:
			return st
		default:
			return sandbox.ExitStatus{Code: -1, Signal: "killed"}
		}
	}
	st := <-ch
	sp.mu.Lock()
	delete(sp.exits, id)
	sp.mu.Unlock()
	return st
}

// Close ends the spawner.
func (sp *spawner) Close() error {
	sp.conn.Close()
	if sp.cmd != nil && sp.cmd.Process != nil {
		sp.cmd.Process.Kill()
		sp.cmd.Wait()
	}
	close(sp.closed)
	return nil
}
