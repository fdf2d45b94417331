//go:build linux

package agent

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ember-serverless/ember/internal/sandbox"
	"github.com/ember-serverless/ember/internal/sandbox/jail"
	"github.com/ember-serverless/ember/internal/sandbox/microvm/wire"
)

// Main is the agent's main, for cmd/ember-vmagent: it runs the jail's init when the jail
// started this binary as one, and otherwise, as the guest's pid 1, boots and serves the host.
// It does not return.
func Main() {
	jail.MaybeRunInit()
	if os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "ember-vmagent is the /init of Ember's microVMs; it is not run by hand")
		os.Exit(2)
	}
	console := openConsole()
	err := run(console)
	fmt.Fprintf(console, "ember-vmagent: %v\n", err)
	unix.Sync()
	_ = unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	select {}
}

// agent is the guest's side of one sandbox.
type agent struct {
	log  *slog.Logger
	ctl  *os.File
	wmu  sync.Mutex // serializes writes on ctl
	link *link

	mu      sync.Mutex
	backend *jail.Backend
	sb      sandbox.Sandbox
	outR    *os.File
}

func run(console *os.File) error {
	if err := boot(); err != nil {
		return fmt.Errorf("boot: %w", err)
	}
	ctlPath, err := waitPort(wire.CtlPort)
	if err != nil {
		return err
	}
	dataPath, err := waitPort(wire.DataPort)
	if err != nil {
		return err
	}
	ctl, err := os.OpenFile(ctlPath, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	a := &agent{
		log:  slog.New(slog.NewTextHandler(console, &slog.HandlerOptions{Level: slog.LevelWarn})),
		ctl:  ctl,
		link: newLink(dataPath),
	}
	if err := a.link.open(); err != nil {
		return err
	}
	a.send(wire.Message{Event: wire.EventReady})
	r := &lineReader{f: ctl, br: bufio.NewReaderSize(ctl, 64<<10)}
	for {
		line, err := r.next()
		if err != nil {
			return fmt.Errorf("control port: %w", err)
		}
		var req wire.Request
		if err := json.Unmarshal(line, &req); err != nil {
			a.log.Warn("bad request from the host", "err", err)
			continue
		}
		// Requests that wait (start, shutdown) must not hold up the others.
		go a.handle(req)
	}
}

func (a *agent) send(m wire.Message) {
	b, _ := json.Marshal(m)
	a.wmu.Lock()
	defer a.wmu.Unlock()
	if _, err := a.ctl.Write(append(b, '\n')); err != nil {
		a.log.Warn("write to the host", "err", err)
	}
}

func (a *agent) handle(req wire.Request) {
	msg := wire.Message{ID: req.ID}
	var err error
	switch req.Op {
	case wire.OpCreate:
		if req.Create == nil {
			err = errors.New("create without a spec")
			break
		}
		err = a.create(*req.Create)
	case wire.OpStart:
		err = a.start()
	case wire.OpStats:
		a.mu.Lock()
		if a.sb != nil {
			st := a.sb.Stats()
			msg.Stats = &st
		}
		a.mu.Unlock()
	case wire.OpQuiesce:
		a.link.quiesce()
	case wire.OpResume:
		if req.Resume == nil {
			err = errors.New("resume without a clock and entropy")
			break
		}
		err = a.resume(*req.Resume)
	case wire.OpShutdown:
		a.mu.Lock()
		sb := a.sb
		a.mu.Unlock()
		if sb != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err = sb.Destroy(ctx)
			cancel()
		}
		unix.Sync()
		msg.Err = errString(err)
		a.send(msg)
		_ = unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
		return
	default:
		err = fmt.Errorf("unknown operation %q", req.Op)
	}
	msg.Err = errString(err)
	a.send(msg)
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// create builds the jailed sandbox, as the host's jail would, from the function image.
func (a *agent) create(c wire.Create) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.sb != nil {
		return errors.New("the VM already has its sandbox")
	}
	cfg := jail.Config{
		StateDir:   "/run/ember/jail",
		ScratchDir: filepath.Join(wire.ScratchMount, "jail"),
		// The VM's vCPU is the sandbox's bound: a share of it inside would throttle the one
		// sandbox the VM holds (128 MB buys 7% of it) for nothing.
		CPUUnbounded: true,
	}
	if c.RuntimeDir {
		cfg.RuntimeDirs = map[string]string{c.Runtime: filepath.Join(wire.FnMount, wire.FnRuntimeDir)}
	}
	if len(c.RuntimeHostPaths) > 0 {
		cfg.RuntimeHostPaths = map[string][]string{c.Runtime: c.RuntimeHostPaths}
	}
	b, err := jail.New(cfg, a.log)
	if err != nil {
		return err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		b.Close()
		return err
	}
	spec := sandbox.Spec{
		ID:                 c.ID,
		Runtime:            c.Runtime,
		CodeDir:            filepath.Join(wire.FnMount, wire.FnCodeDir),
		Command:            c.Command,
		Env:                c.Env,
		MemoryMB:           c.MemoryMB,
		EphemeralStorageMB: c.EphemeralStorageMB,
		Output:             outW,
	}
	for i := range c.Layers {
		spec.LayerDirs = append(spec.LayerDirs, filepath.Join(wire.FnMount, wire.FnLayersDir, strconv.Itoa(i)))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sb, err := b.Create(ctx, spec)
	outW.Close()
	if err != nil {
		outR.Close()
		b.Close()
		return err
	}
	a.backend, a.sb, a.outR = b, sb, outR
	go a.link.relayOutput(outR)
	go a.link.serve(sb.RuntimeAPI())
	go func() {
		<-sb.Done()
		st := sb.Exit()
		a.send(wire.Message{Event: wire.EventExit, Exit: &st})
	}()
	return nil
}

func (a *agent) start() error {
	a.mu.Lock()
	sb := a.sb
	a.mu.Unlock()
	if sb == nil {
		return errors.New("no sandbox to start")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return sb.Start(ctx)
}

// resume makes a snapshotted or restored VM unique, then reconnects the data session: the
// clock is set from the host's, and the kernel's random generator is reseeded from the host's
// entropy, before any relayed byte reaches the runtime.
func (a *agent) resume(r wire.Resume) error {
	ts := unix.NsecToTimespec(r.UnixNano)
	if err := unix.ClockSettime(unix.CLOCK_REALTIME, &ts); err != nil {
		return fmt.Errorf("set the clock: %w", err)
	}
	if err := reseed(r.Entropy); err != nil {
		return err
	}
	return a.link.resume()
}

// The random device's ioctls (linux/random.h).
const (
	rndAddEntropy  = 0x40085203 // _IOW('R', 0x03, int[2])
	rndReseedCRNG  = 0x5207     // _IO('R', 0x07)
	minSeedEntropy = 32
)

// reseed mixes the host's bytes into the guest kernel's pool, credited as entropy, and makes
// the kernel reseed its generator from the pool now: what clones of one snapshot draw from
// getrandom after this differs, even though their pools were equal.
func reseed(host []byte) error {
	if len(host) < minSeedEntropy {
		return fmt.Errorf("reseed: %d bytes of entropy from the host, want at least %d", len(host), minSeedEntropy)
	}
	seed := host
	f, err := os.OpenFile("/dev/urandom", os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("reseed: %w", err)
	}
	defer f.Close()
	// struct rand_pool_info { int entropy_count; int buf_size; __u32 buf[]; }
	info := make([]byte, 8+len(seed)+3)
	*(*int32)(unsafe.Pointer(&info[0])) = int32(len(host) * 8)
	*(*int32)(unsafe.Pointer(&info[4])) = int32(len(seed))
	copy(info[8:], seed)
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, f.Fd(), rndAddEntropy, uintptr(unsafe.Pointer(&info[0]))); errno != 0 {
		return fmt.Errorf("reseed: RNDADDENTROPY: %w", errno)
	}
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, f.Fd(), rndReseedCRNG, 0); errno != 0 {
		return fmt.Errorf("reseed: RNDRESEEDCRNG: %w", errno)
	}
	return nil
}
