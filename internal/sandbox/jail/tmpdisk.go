//go:build linux

package jail

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"time"
	"unsafe"

	"github.com/ember-serverless/ember/internal/limits"
	"golang.org/x/sys/unix"
)

// tmpDisks makes sandboxes' /tmp. Each is its own ext4 file system of EphemeralStorage size,
// on a loop device backed by an unnamed file (O_TMPFILE) in a directory on disk: like Lambda's
// /tmp it is disk, not memory, so writing past it fails with ENOSPC rather than costing the
// function its memory. Only the pages being written are charged to the sandbox's memory
// cgroup, and they can be written back and reclaimed.
//
// The server holds each file system as a detached mount and gives its sandbox another mount of
// it, which the init attaches in the sandbox's own mount namespace. Nothing outlives the server,
// even a crash: the backing file has no name, the loop device detaches itself once nothing
// holds it (autoclear), and the mounts live only in the server and in sandboxes, which die
// with it.
//
// Making a file system (copying a template formatted once per size, attaching a loop device,
// mounting) costs a visible part of a cold start, and letting it go about as much again, mostly
// in the host file system (allocating and freeing the backing file's inode and blocks);
// bench/README.md has the figures. So file systems are reused: when a sandbox is gone, everything in its /tmp is removed, and a file
// system whose free space and inodes are then back to those of a new one is kept for the next
// sandbox of its size. One that held more than recycleMaxGrowth of data is let go instead,
// so that idle file systems never hold much disk. A few of the default size are kept ready.
type tmpDisks struct {
	dir string
	ctl *os.File // /dev/loop-control
	// devices holds a token for each loop device the server holds (one per file system,
	// idle or in a sandbox); its capacity bounds them. A burst of cold starts past it waits
	// for a file system to come back (or lets an idle one of another size go) instead of
	// failing.
	devices chan struct{}
	// attach serializes finding and configuring a free loop device in this process: two
	// attachers asking the kernel at once are told the same free device and all but one fail.
	attach sync.Mutex
	work   chan *tmpDisk
	wake   chan struct{}
	done   chan struct{}
	wg     sync.WaitGroup

	mu   sync.Mutex
	tmpl map[int]*os.File   // formatted, empty images by size in MB
	idle map[int][]*tmpDisk // clean file systems by size in MB
	// changed is closed, and replaced, whenever a file system becomes idle.
	changed chan struct{}
	closed  bool
}

// tmpDisk is one /tmp file system.
type tmpDisk struct {
	d      *tmpDisks
	sizeMB int
	img    *os.File // the backing file
	dev    string   // its loop device
	mnt    int      // the server's detached mount of it
	free   unix.Statfs_t
	blocks int64 // the backing file's allocated 512-byte blocks when new
}

const (
	// defaultTmpMB is the size most sandboxes' /tmp has.
	defaultTmpMB = limits.DefaultEphemeralStorageMB
	// spareTmpDisks of the default size are kept ready, for a burst of cold starts:
	// each costs about 100 KiB of kernel memory and 200 KiB of disk.
	spareTmpDisks = 16
	// maxIdleTmpDisks bounds the clean file systems kept, of all sizes.
	maxIdleTmpDisks = 64
	// maxLoopDevices bounds the loop devices (so file systems) the server holds at once: far
	// more than the sandboxes a host runs, and far fewer than the kernel's 2^20 minors.
	maxLoopDevices = 4096
	// recycleMaxGrowth is how much more of its backing file a file system may have allocated
	// than when it was new, and still be reused.
	recycleMaxGrowth = 32 << 20
)

// newTmpDisks checks that this host can make disk-backed /tmp file systems in dir (loop
// devices, ext4, mkfs.ext4) by making one of the default size, and starts keeping spares.
func newTmpDisks(dir string) (*tmpDisks, error) {
	return newTmpDisksOf(dir, maxLoopDevices)
}

// newTmpDisksOf is newTmpDisks holding at most devices loop devices.
func newTmpDisksOf(dir string, devices int) (*tmpDisks, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return nil, err
	}
	if st.Type == unix.TMPFS_MAGIC || st.Type == unix.RAMFS_MAGIC {
		return nil, fmt.Errorf("%s is in memory (tmpfs), not on disk", dir)
	}
	if _, err := exec.LookPath("mkfs.ext4"); err != nil {
		return nil, fmt.Errorf("mkfs.ext4 is missing (Debian package e2fsprogs): %w", err)
	}
	ctl, err := os.OpenFile("/dev/loop-control", os.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("no loop devices: %w", err)
	}
	d := &tmpDisks{
		dir: dir, ctl: ctl,
		devices: make(chan struct{}, devices),
		changed: make(chan struct{}),
		work:    make(chan *tmpDisk, maxIdleTmpDisks),
		wake:    make(chan struct{}, 1),
		done:    make(chan struct{}),
		tmpl:    map[int]*os.File{},
		idle:    map[int][]*tmpDisk{},
	}
	d.tryAcquireDevice()
	t, err := d.build(context.Background(), defaultTmpMB)
	if err != nil {
		d.closeFiles()
		return nil, err
	}
	d.put(t, true)
	d.wg.Add(1)
	go d.loop()
	d.wakeUp()
	return d, nil
}

// Close lets every idle file system go and stops keeping spares. File systems still in
// sandboxes go when they come back.
func (d *tmpDisks) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	close(d.done)
	d.mu.Unlock()
	d.wg.Wait()
	d.mu.Lock()
	for size, ts := range d.idle {
		for _, t := range ts {
			t.release()
		}
		delete(d.idle, size)
	}
	d.mu.Unlock()
	d.closeFiles()
	return nil
}

// closeFiles closes the templates and /dev/loop-control.
func (d *tmpDisks) closeFiles() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for size, f := range d.tmpl {
		f.Close()
		delete(d.tmpl, size)
	}
	d.ctl.Close()
}

// take returns a clean file system of sizeMB and, for the sandbox, a detached clone of its
// mount. Give the file system back when the sandbox is gone. When the server holds all the
// loop devices it may, take waits for one until ctx is done.
func (d *tmpDisks) take(ctx context.Context, sizeMB int) (*tmpDisk, int, error) {
	t, err := d.obtain(ctx, sizeMB)
	if sizeMB == defaultTmpMB {
		d.wakeUp()
	}
	if err != nil {
		return nil, -1, err
	}
	// Another mount of the same file system (mounting the device again finds its superblock):
	// kernels before 6.15 cannot clone a mount that is attached nowhere.
	fd, err := mountDevice(t.dev)
	if err != nil {
		t.release()
		return nil, -1, err
	}
	return t, fd, nil
}

// obtain returns an idle file system of sizeMB, or makes one. When the server holds all the
// loop devices it may, it lets idle file systems of other sizes go, and otherwise waits for a
// file system to come back (idle, or let go) until ctx is done.
func (d *tmpDisks) obtain(ctx context.Context, sizeMB int) (*tmpDisk, error) {
	for {
		d.mu.Lock()
		changed := d.changed // taken before looking, so no change after the look is missed
		var t *tmpDisk
		if ts := d.idle[sizeMB]; len(ts) > 0 {
			t, d.idle[sizeMB] = ts[len(ts)-1], ts[:len(ts)-1]
		}
		d.mu.Unlock()
		if t != nil {
			return t, nil
		}
		if d.tryAcquireDevice() {
			return d.build(ctx, sizeMB)
		}
		if t := d.popIdle(); t != nil {
			t.release()
			continue
		}
		select {
		case d.devices <- struct{}{}:
			return d.build(ctx, sizeMB)
		case <-changed:
		case <-ctx.Done():
			return nil, fmt.Errorf("jail: waiting for a loop device for /tmp (the server holds %d): %w", cap(d.devices), ctx.Err())
		case <-d.done:
			return nil, errors.New("jail: /tmp file systems are closed")
		}
	}
}

// give takes back a file system whose sandbox is gone: every process that could use it has
// exited. Unless used is false (the sandbox never ran), its files are removed in the
// background before anyone gets it again.
func (d *tmpDisks) give(t *tmpDisk, used bool) {
	d.mu.Lock()
	closed := d.closed
	d.mu.Unlock()
	if !used || closed {
		d.put(t, false) // which lets it go once d is closed
		return
	}
	select {
	case d.work <- t:
	default: // more coming back than the cleaner keeps up with: let this one go
		go t.release()
	}
}

// put keeps a clean file system, or lets it go when enough are kept or d is closed. Used ones
// are handed out again first; new spares last.
func (d *tmpDisks) put(t *tmpDisk, spare bool) {
	d.mu.Lock()
	if d.closed || d.idleCount() >= maxIdleTmpDisks {
		d.mu.Unlock()
		t.release()
		return
	}
	if spare {
		d.idle[t.sizeMB] = append([]*tmpDisk{t}, d.idle[t.sizeMB]...)
	} else {
		d.idle[t.sizeMB] = append(d.idle[t.sizeMB], t)
	}
	close(d.changed) // wakes whoever waits for a file system
	d.changed = make(chan struct{})
	d.mu.Unlock()
}

// idleCount is how many clean file systems are kept, of all sizes; d.mu is held.
func (d *tmpDisks) idleCount() int {
	n := 0
	for _, ts := range d.idle {
		n += len(ts)
	}
	return n
}

func (d *tmpDisks) wakeUp() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// loop cleans returned file systems and keeps spares of the default size, one at a time, so
// that it never holds more than two cores' worth of sandbox creation back.
func (d *tmpDisks) loop() {
	defer d.wg.Done()
	for {
		select {
		case <-d.done:
			for {
				select {
				case t := <-d.work:
					t.release()
				default:
					return
				}
			}
		case t := <-d.work:
			if err := t.clean(); err != nil {
				t.release()
			} else {
				d.put(t, false)
			}
		case <-d.wake:
		}
		d.mu.Lock()
		short := !d.closed && len(d.idle[defaultTmpMB]) < spareTmpDisks && d.idleCount() < maxIdleTmpDisks
		d.mu.Unlock()
		if short && d.tryAcquireDevice() {
			if t, err := d.build(context.Background(), defaultTmpMB); err == nil {
				d.put(t, true)
				d.wakeUp()
			}
		}
	}
}

// build makes a new file system of sizeMB on a loop device whose token the caller holds; the
// token goes with the file system, or back if none is made.
func (d *tmpDisks) build(ctx context.Context, sizeMB int) (*tmpDisk, error) {
	tmpl, err := d.template(sizeMB)
	if err != nil {
		d.releaseDevice()
		return nil, err
	}
	img, err := d.newFile()
	if err != nil {
		d.releaseDevice()
		return nil, err
	}
	if err := copySparse(img, tmpl); err != nil {
		img.Close()
		d.releaseDevice()
		return nil, fmt.Errorf("jail: copy /tmp image: %w", err)
	}
	mnt, dev, err := d.mountImage(ctx, img)
	if err != nil {
		img.Close()
		d.releaseDevice()
		return nil, err
	}
	t := &tmpDisk{d: d, sizeMB: sizeMB, img: img, dev: dev, mnt: mnt}
	if err := unix.Fstatfs(mnt, &t.free); err != nil {
		t.release()
		return nil, fmt.Errorf("jail: /tmp: %w", err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(img.Fd()), &st); err != nil {
		t.release()
		return nil, fmt.Errorf("jail: /tmp: %w", err)
	}
	t.blocks = st.Blocks
	return t, nil
}

// release unmounts the file system and lets its loop device and backing file go.
func (t *tmpDisk) release() {
	unix.Close(t.mnt)
	t.img.Close()
	t.d.releaseDevice()
}

func (d *tmpDisks) releaseDevice() { <-d.devices }

// popIdle takes an idle file system out of the pool to let it go, one of the largest size
// kept, or nil when none is idle.
func (d *tmpDisks) popIdle() *tmpDisk {
	d.mu.Lock()
	defer d.mu.Unlock()
	best := -1
	for size, ts := range d.idle {
		if len(ts) > 0 && size > best {
			best = size
		}
	}
	if best < 0 {
		return nil
	}
	ts := d.idle[best]
	t := ts[0] // spares sit first: let a never-used one go before a recycled one
	d.idle[best] = ts[1:]
	return t
}

// tryAcquireDevice takes a loop device token if one is free, without waiting or letting idle
// file systems go: what the spare maker uses.
func (d *tmpDisks) tryAcquireDevice() bool {
	select {
	case d.devices <- struct{}{}:
		return true
	default:
		return false
	}
}

// clean removes everything in the file system and checks that it is as new: the root
// directory as made, the free space and inodes all back, and the backing file not much
// larger than it was.
func (t *tmpDisk) clean() error {
	root, err := unix.Openat(t.mnt, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(root)
	if err := removeContents(root, 0); err != nil {
		return err
	}
	var st unix.Stat_t
	if err := unix.Fstat(root, &st); err != nil {
		return err
	}
	if st.Mode&0o7777 != 0o1777 || st.Uid != 0 || st.Gid != 0 {
		return fmt.Errorf("root directory changed: mode %o, owner %d:%d", st.Mode&0o7777, st.Uid, st.Gid)
	}
	var fs unix.Statfs_t
	if err := unix.Fstatfs(root, &fs); err != nil {
		return err
	}
	if fs.Bfree != t.free.Bfree || fs.Ffree != t.free.Ffree {
		return fmt.Errorf("not empty after cleaning: %d blocks and %d inodes free, want %d and %d",
			fs.Bfree, fs.Ffree, t.free.Bfree, t.free.Ffree)
	}
	if err := unix.Fstat(int(t.img.Fd()), &st); err != nil {
		return err
	}
	if grown := (st.Blocks - t.blocks) * 512; grown > recycleMaxGrowth {
		return fmt.Errorf("backing file grew by %d MiB", grown>>20)
	}
	return nil
}

// maxCleanDepth bounds how deep removeContents goes; a deeper tree is not cleaned, and its
// file system is let go instead.
const maxCleanDepth = 128

// removeContents removes everything in the directory dir, without following links.
func removeContents(dir, depth int) error {
	if depth > maxCleanDepth {
		return errors.New("directories nested too deep to clean")
	}
	dup, err := unix.Openat(dir, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(dup), "dir")
	names, err := f.Readdirnames(-1)
	f.Close()
	if err != nil {
		return err
	}
	for _, n := range names {
		err := unix.Unlinkat(dir, n, 0)
		if err == nil || errors.Is(err, unix.ENOENT) {
			continue
		}
		if !errors.Is(err, unix.EISDIR) && !errors.Is(err, unix.EPERM) {
			return err
		}
		sub, err := unix.Openat(dir, n, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		err = removeContents(sub, depth+1)
		unix.Close(sub)
		if err != nil {
			return err
		}
		if err := unix.Unlinkat(dir, n, unix.AT_REMOVEDIR); err != nil {
			return err
		}
	}
	return nil
}

// template returns the formatted image for sizeMB, making it the first time.
func (d *tmpDisks) template(sizeMB int) (*os.File, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if f, ok := d.tmpl[sizeMB]; ok {
		return f, nil
	}
	want := int64(sizeMB) << 20
	// ext4's own metadata (inode tables, bitmaps) takes about 2% of the image: format once to
	// learn how much, then again that much larger, so that the function gets its full size.
	f, free, err := d.format(want)
	if err != nil {
		return nil, err
	}
	if free < want {
		f2, free2, err := d.format(want + (want - free))
		if err != nil {
			f.Close()
			return nil, err
		}
		if free2 <= want {
			f.Close()
			f = f2
		} else {
			f2.Close()
		}
	}
	d.tmpl[sizeMB] = f
	return f, nil
}

// format makes an image of size bytes holding an empty ext4 file system whose root is
// world-writable and sticky, and says how many bytes a file may use in it.
func (d *tmpDisks) format(size int64) (*os.File, int64, error) {
	f, err := d.newFile()
	if err != nil {
		return nil, 0, err
	}
	fail := func(err error) (*os.File, int64, error) {
		f.Close()
		return nil, 0, fmt.Errorf("jail: format /tmp image: %w", err)
	}
	if err := f.Truncate(size); err != nil {
		return fail(err)
	}
	// No journal (nothing of /tmp survives a crash anyway), inode tables left to be read as
	// zeros (the file is sparse), no blocks reserved for root.
	cmd := exec.Command("mkfs.ext4", "-q", "-F", "-b", "4096", "-m", "0",
		"-O", "^has_journal,^resize_inode", "-E", "lazy_itable_init=1,nodiscard,root_owner=0:0",
		"/proc/self/fd/3")
	cmd.ExtraFiles = []*os.File{f}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fail(fmt.Errorf("mkfs.ext4: %w: %s", err, out))
	}
	mfd, _, err := d.mountImage(context.Background(), f)
	if err != nil {
		return fail(err)
	}
	defer unix.Close(mfd) // unmounts, writing the changes back through the loop device
	root, err := unix.Openat(mfd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fail(err)
	}
	defer unix.Close(root)
	if err := unix.Fchmod(root, 0o1777); err != nil {
		return fail(err)
	}
	if err := unix.Unlinkat(root, "lost+found", unix.AT_REMOVEDIR); err != nil && !errors.Is(err, unix.ENOENT) {
		return fail(err)
	}
	var st unix.Statfs_t
	if err := unix.Fstatfs(root, &st); err != nil {
		return fail(err)
	}
	return f, int64(st.Bavail) * st.Bsize, nil
}

// newFile makes an unnamed file in the scratch directory.
func (d *tmpDisks) newFile() (*os.File, error) {
	fd, err := unix.Open(d.dir, unix.O_TMPFILE|unix.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("jail: /tmp image in %s: %w", d.dir, err)
	}
	return os.NewFile(uintptr(fd), "tmp-image"), nil
}

// mountImage attaches img to a free loop device and mounts the ext4 file system on it as a
// detached mount; it returns the mount and the device.
func (d *tmpDisks) mountImage(ctx context.Context, img *os.File) (int, string, error) {
	dev, err := d.attachLoop(ctx, img)
	if err != nil {
		return -1, "", err
	}
	defer dev.Close() // the file system holds the device from here
	mfd, err := mountDevice(dev.Name())
	return mfd, dev.Name(), err
}

// mountDevice mounts the ext4 file system on dev as a detached mount (nosuid, nodev).
func mountDevice(dev string) (int, error) {
	fs, err := unix.Fsopen("ext4", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("jail: mount /tmp: %w", err)
	}
	defer unix.Close(fs)
	if err := unix.FsconfigSetString(fs, "source", dev); err != nil {
		return -1, fmt.Errorf("jail: mount /tmp: source %s: %w", dev, err)
	}
	// The inode tables were never written: they are zeros, which is what an unused table is.
	// Nothing on /tmp needs to survive a crash, so no cache flushes (barriers) either, and no
	// background reading of block bitmaps.
	for _, flag := range []string{"noinit_itable", "nobarrier", "no_prefetch_block_bitmaps"} {
		if err := unix.FsconfigSetFlag(fs, flag); err != nil {
			return -1, fmt.Errorf("jail: mount /tmp: %s: %w", flag, err)
		}
	}
	if err := unix.FsconfigCreate(fs); err != nil {
		return -1, fmt.Errorf("jail: mount /tmp: %w", err)
	}
	mfd, err := unix.Fsmount(fs, unix.FSMOUNT_CLOEXEC, unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV)
	if err != nil {
		return -1, fmt.Errorf("jail: mount /tmp: %w", err)
	}
	return mfd, nil
}

// attachLoop backs a free loop device with img. The device bypasses the page cache for img
// (the file system above it has its own) and detaches itself once nothing holds it open.
//
// Attaching is serialized in this process, so its own attachers never race for one device;
// another process (losetup, another server) taking the device the kernel offered is retried
// with the next free one, with a short back-off, until ctx is done: a burst waits, it does not
// fail.
func (d *tmpDisks) attachLoop(ctx context.Context, img *os.File) (*os.File, error) {
	backoff := time.Millisecond
	for {
		dev, err := d.tryAttachLoop(img)
		if err == nil {
			return dev, nil
		}
		if !errors.Is(err, errLoopBusy) {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("jail: waiting for a free loop device: %w", ctx.Err())
		case <-d.done:
			return nil, errors.New("jail: /tmp file systems are closed")
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 50*time.Millisecond)
	}
}

// errLoopBusy says the free loop device the kernel offered was taken by someone else first,
// or that none could be had just now (the kernel's minors, or its memory, ran out).
var errLoopBusy = errors.New("loop device busy")

func (d *tmpDisks) tryAttachLoop(img *os.File) (*os.File, error) {
	d.attach.Lock()
	defer d.attach.Unlock()
	n, err := unix.IoctlRetInt(int(d.ctl.Fd()), unix.LOOP_CTL_GET_FREE)
	if errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.ENOMEM) || errors.Is(err, unix.EEXIST) {
		return nil, fmt.Errorf("jail: find a free loop device: %w: %w", errLoopBusy, err)
	}
	if err != nil {
		return nil, fmt.Errorf("jail: find a free loop device: %w", err)
	}
	dev, err := os.OpenFile("/dev/loop"+strconv.Itoa(n), os.O_RDWR|unix.O_CLOEXEC, 0)
	if errors.Is(err, fs.ErrNotExist) { // its node is not there yet (udev): try again
		return nil, fmt.Errorf("jail: %w: %w", errLoopBusy, err)
	}
	if err != nil {
		return nil, fmt.Errorf("jail: %w", err)
	}
	cfg := unix.LoopConfig{Fd: uint32(img.Fd())}
	cfg.Info.Flags = unix.LO_FLAGS_AUTOCLEAR | unix.LO_FLAGS_DIRECT_IO
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, dev.Fd(), unix.LOOP_CONFIGURE, uintptr(unsafe.Pointer(&cfg)))
	if errno == 0 {
		return dev, nil
	}
	dev.Close()
	if errno == unix.EBUSY { // another process took the device first
		return nil, fmt.Errorf("jail: configure %s: %w: %w", dev.Name(), errLoopBusy, errno)
	}
	return nil, fmt.Errorf("jail: configure %s: %w", dev.Name(), errno)
}

// copySparse copies src's data into dst of the same size, leaving src's holes unwritten.
func copySparse(dst, src *os.File) error {
	fi, err := src.Stat()
	if err != nil {
		return err
	}
	if err := dst.Truncate(fi.Size()); err != nil {
		return err
	}
	s, t := int(src.Fd()), int(dst.Fd())
	for off := int64(0); off < fi.Size(); {
		data, err := unix.Seek(s, off, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) { // no data after off
			return nil
		}
		if err != nil {
			return err
		}
		hole, err := unix.Seek(s, data, unix.SEEK_HOLE)
		if err != nil {
			return err
		}
		in, out := data, data
		for in < hole {
			n, err := unix.CopyFileRange(s, &in, t, &out, int(hole-in), 0)
			if err != nil {
				return err
			}
			if n == 0 {
				return fmt.Errorf("copy stopped at %d of %d", in, hole)
			}
		}
		off = hole
	}
	return nil
}
