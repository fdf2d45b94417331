//go:build linux

package microvm

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ember-serverless/ember/internal/sandbox/microvm/wire"
)

// machine is what one QEMU process is started with.
type machine struct {
	dir      string // the VM's own directory: its console log
	memoryMB int
	// memFile holds the guest's RAM. Shared (a VM booted fresh), QEMU writes it through, so
	// that it is the snapshot's memory; private (a restored VM), it is a snapshot's memory,
	// mapped copy-on-write.
	memFile   string
	memShared bool
	rootImg   string
	fnImg     string
	scratch   string
	// scratchCOW opens scratch copy-on-write: the VM's writes go to a temporary overlay QEMU
	// makes and removes, and scratch (a snapshot's disk) is never written.
	scratchCOW bool
	// incoming, when set, is a device state file to restore from (the VM starts paused, and
	// restore is finished over QMP).
	incoming bool
	// accel is "kvm" or "tcg".
	accel string
}

// vm is one running QEMU process and the host's ends of its channels.
type vm struct {
	cmd    *exec.Cmd
	ctl    net.Conn // the control port
	data   net.Conn // the data port (a yamux session)
	qmp    *qmp
	exited chan struct{} // closed when QEMU has exited
	err    error         // how, once exited is closed
}

// args is QEMU's command line. The channels are the descriptors 3 (control port), 4 (data
// port) and 5 (QMP).
func (b *Backend) args(m machine) []string {
	cmdline := []string{
		"console=ttyS0",
		"tsc_early_khz=" + strconv.Itoa(b.tscKHz), // without it a TCG guest hangs early
		"panic=-1",
		"quiet",
		"cryptomgr.notests",
		"rdinit=/init",
	}
	share := "off"
	if m.memShared {
		share = "on"
	}
	cow := ""
	if m.scratchCOW {
		cow = ",snapshot=on"
	}
	args := []string{
		"-machine", "microvm,memory-backend=mem,acpi=on",
		"-accel", b.accelArg(m.accel),
		"-cpu", "max",
		"-smp", strconv.Itoa(b.cfg.CPUs),
		"-m", strconv.Itoa(m.memoryMB),
		"-object", fmt.Sprintf("memory-backend-file,id=mem,size=%dM,mem-path=%s,share=%s", m.memoryMB, m.memFile, share),
		"-nodefaults", "-no-user-config", "-nographic", "-no-reboot",
		"-serial", "file:" + filepath.Join(m.dir, "console.log"),
		"-kernel", b.kernel.Vmlinux,
		"-initrd", b.initrd,
		"-append", strings.Join(cmdline, " "),
		"-global", "migration.store-global-state=off",
		"-drive", "id=root,file=" + m.rootImg + ",format=raw,if=none,readonly=on",
		"-device", "virtio-blk-device,drive=root,serial=" + wire.RootDisk,
		"-drive", "id=fn,file=" + m.fnImg + ",format=raw,if=none,readonly=on",
		"-device", "virtio-blk-device,drive=fn,serial=" + wire.FnDisk,
		"-drive", "id=scratch,file=" + m.scratch + ",format=raw,if=none,cache=unsafe,discard=unmap" + cow,
		"-device", "virtio-blk-device,drive=scratch,serial=" + wire.ScratchDisk,
		"-device", "virtio-serial-device,max_ports=4",
		"-chardev", "socket,id=ctl,fd=3",
		"-device", "virtserialport,chardev=ctl,name=" + wire.CtlPort,
		"-chardev", "socket,id=data,fd=4",
		"-device", "virtserialport,chardev=data,name=" + wire.DataPort,
		"-chardev", "socket,id=qmp,fd=5",
		"-mon", "chardev=qmp,mode=control",
	}
	if m.incoming {
		args = append(args, "-incoming", "defer")
	}
	return args
}

// accelArg is QEMU's -accel value.
func (b *Backend) accelArg(accel string) string {
	if accel == "tcg" && b.cfg.TCGCacheMB > 0 {
		return "tcg,tb-size=" + strconv.Itoa(b.cfg.TCGCacheMB)
	}
	return accel
}

// socketPair returns the host's end as a connection and the guest's as a file for QEMU.
func socketPair() (net.Conn, *os.File, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, err
	}
	host := os.NewFile(uintptr(fds[0]), "host")
	defer host.Close()
	c, err := net.FileConn(host)
	if err != nil {
		unix.Close(fds[1])
		return nil, nil, err
	}
	return c, os.NewFile(uintptr(fds[1]), "guest"), nil
}

// start starts QEMU and connects QMP.
func (b *Backend) start(m machine) (_ *vm, err error) {
	var hostEnds []net.Conn
	var guestEnds []*os.File
	defer func() {
		for _, f := range guestEnds {
			f.Close()
		}
		if err != nil {
			for _, c := range hostEnds {
				c.Close()
			}
		}
	}()
	for range 3 {
		h, g, err := socketPair()
		if err != nil {
			return nil, fmt.Errorf("microvm: %w", err)
		}
		hostEnds, guestEnds = append(hostEnds, h), append(guestEnds, g)
	}
	cmd := exec.Command(b.cfg.QEMU, b.args(m)...)
	cmd.ExtraFiles = guestEnds
	cmd.Dir = m.dir
	out, err := os.Create(filepath.Join(m.dir, "qemu.log"))
	if err != nil {
		return nil, fmt.Errorf("microvm: %w", err)
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	// A server that dies takes its VMs with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("microvm: %s: %w", b.cfg.QEMU, err)
	}
	v := &vm{cmd: cmd, ctl: hostEnds[0], data: hostEnds[1], exited: make(chan struct{})}
	go func() {
		v.err = cmd.Wait()
		close(v.exited)
	}()
	q, err := newQMP(hostEnds[2])
	if err != nil {
		v.kill()
		return nil, fmt.Errorf("microvm: %w%s", err, qemuLog(m.dir))
	}
	v.qmp = q
	return v, nil
}

// kill ends QEMU and waits for it.
func (v *vm) kill() {
	if v.cmd.Process != nil {
		v.cmd.Process.Kill()
	}
	select {
	case <-v.exited:
	case <-time.After(30 * time.Second):
	}
	v.ctl.Close()
	v.data.Close()
	if v.qmp != nil {
		v.qmp.close()
	}
}

// qemuLog is the end of QEMU's own messages, for an error.
func qemuLog(dir string) string {
	var s string
	for _, f := range []string{"qemu.log", "console.log"} {
		b, _ := os.ReadFile(filepath.Join(dir, f))
		if len(b) > 2048 {
			b = b[len(b)-2048:]
		}
		if len(b) > 0 {
			s += "\n" + f + ": " + string(b)
		}
	}
	return s
}
