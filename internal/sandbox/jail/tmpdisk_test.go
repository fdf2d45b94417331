//go:build linux

package jail

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ember-serverless/ember/internal/testenv"
	"golang.org/x/sys/unix"
)

// newTestTmpDisks makes /tmp file systems in a test directory, or skips where this host
// cannot (not root, no loop devices).
func newTestTmpDisks(t *testing.T) *tmpDisks {
	t.Helper()
	testenv.NeedRoot(t, "making /tmp file systems")
	if _, err := os.Stat("/dev/loop-control"); err != nil {
		testenv.Need(t, "no loop devices: %v", err)
	}
	d, err := newTmpDisks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// fill writes files, directories and links into a /tmp mount as a function might.
func fill(t *testing.T, mnt int, depth, mb int) {
	t.Helper()
	dir, err := unix.Openat(mnt, ".", unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(dir)
	for _, name := range []string{"secret", ".hidden"} {
		fd, err := unix.Openat(dir, name, unix.O_CREAT|unix.O_WRONLY, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		unix.Write(fd, []byte("the last function's data"))
		unix.Close(fd)
	}
	if err := unix.Symlinkat("/etc/passwd", dir, "link"); err != nil {
		t.Fatal(err)
	}
	if mb > 0 {
		fd, err := unix.Openat(dir, "big", unix.O_CREAT|unix.O_WRONLY, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 1<<20)
		for range mb {
			if _, err := unix.Write(fd, buf); err != nil {
				t.Fatal(err)
			}
		}
		unix.Fsync(fd)
		unix.Close(fd)
	}
	cur, err := unix.Dup(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i := range depth {
		if err := unix.Mkdirat(cur, "d", 0o700); err != nil {
			t.Fatalf("mkdir at depth %d: %v", i, err)
		}
		next, err := unix.Openat(cur, "d", unix.O_RDONLY|unix.O_DIRECTORY, 0)
		if err != nil {
			t.Fatal(err)
		}
		unix.Close(cur)
		cur = next
	}
	unix.Fchmod(cur, 0) // a directory nobody may enter is still cleaned
	unix.Close(cur)
}

func entries(t *testing.T, mnt int) []string {
	t.Helper()
	fd, err := unix.Openat(mnt, ".", unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), "tmp")
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		t.Fatal(err)
	}
	return names
}

func TestAUsedTmpIsEmptiedBeforeAnotherSandboxGetsIt(t *testing.T) {
	d := newTestTmpDisks(t)
	used, clone, err := d.take(context.Background(), 512)
	if err != nil {
		t.Fatal(err)
	}
	fill(t, clone, 5, 1)
	unix.Close(clone)
	d.give(used, true)

	// Once cleaned, it is kept: take until it comes back (spares may be ahead of it).
	testenv.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		t2, clone, err := d.take(context.Background(), 512)
		if err != nil {
			t.Fatal(err)
		}
		if got := entries(t, clone); len(got) > 0 {
			t.Fatalf("a /tmp handed out holds %q", got)
		}
		unix.Close(clone)
		if t2 == used {
			return nil
		}
		t.Cleanup(func() { d.give(t2, false) }) // held, so that the next take goes further
		return errors.New("the used /tmp was not kept for reuse after it was cleaned: another came back")
	})
}

func TestATmpThatCannotBeMadeAsNewIsLetGo(t *testing.T) {
	d := newTestTmpDisks(t)
	for _, c := range []struct {
		name      string
		depth, mb int
		want      string
	}{
		{"nested too deep", maxCleanDepth + 2, 0, "nested too deep"},
		{"its backing file grew", 1, recycleMaxGrowth>>20 + 8, "backing file grew"},
	} {
		t.Run(c.name, func(t *testing.T) {
			tmp, clone, err := d.take(context.Background(), 512)
			if err != nil {
				t.Fatal(err)
			}
			defer tmp.release()
			fill(t, clone, c.depth, c.mb)
			unix.Close(clone)
			err = tmp.clean()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("clean() = %v, want an error saying %q", err, c.want)
			}
		})
	}
	// And one that is merely used is as new after clean.
	tmp, clone, err := d.take(context.Background(), 512)
	if err != nil {
		t.Fatal(err)
	}
	defer tmp.release()
	fill(t, clone, 10, 2)
	if err := tmp.clean(); err != nil {
		t.Fatalf("clean() = %v", err)
	}
	if got := entries(t, clone); len(got) != 0 {
		t.Fatalf("after clean: %q", got)
	}
	unix.Close(clone)
}

// takeAll takes n file systems at once, each from its own goroutine, and returns them and the
// errors. hold says whether each is kept until all have been taken (a burst of sandboxes alive
// together) or given back at once (a burst of short-lived ones).
func takeAll(t *testing.T, d *tmpDisks, n int, hold bool) ([]*tmpDisk, []error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute) // an upper bound only
	defer cancel()
	disks, errs := make([]*tmpDisk, n), make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tmp, clone, err := d.take(ctx, 512)
			if err != nil {
				errs[i] = err
				return
			}
			unix.Close(clone)
			if hold {
				disks[i] = tmp
			} else {
				d.give(tmp, true)
			}
		}()
	}
	wg.Wait()
	return disks, errs
}

func TestABurstOfTmpFileSystemsWaitsForLoopDevicesInsteadOfFailing(t *testing.T) {
	tests := []struct {
		name    string
		devices int
		n       int
		hold    bool
	}{
		{"48 sandboxes alive together each get one, their attachers never failing on each other", maxLoopDevices, 48, true},
		{"32 short-lived sandboxes share 4 loop devices, waiting for one in turn", 4, 32, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			newTestTmpDisks(t) // skips where this host cannot
			d, err := newTmpDisksOf(t.TempDir(), tt.devices)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			disks, errs := takeAll(t, d, tt.n, tt.hold)
			for i, err := range errs {
				if err != nil {
					t.Errorf("take %d: %v", i, err)
				}
			}
			if held := len(d.devices); held > tt.devices {
				t.Errorf("%d loop devices held, at most %d allowed", held, tt.devices)
			}
			for _, tmp := range disks {
				if tmp != nil {
					d.give(tmp, true)
				}
			}
		})
	}
}

func TestTakingPastTheLoopDevicesLetsIdleFileSystemsOfAnotherSizeGo(t *testing.T) {
	newTestTmpDisks(t)
	d, err := newTmpDisksOf(t.TempDir(), 2)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	// The spare of the default size holds one device; a 600 MB file system takes the other.
	big, clone, err := d.take(context.Background(), 600)
	if err != nil {
		t.Fatal(err)
	}
	unix.Close(clone)
	d.give(big, false) // idle now, holding its device
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var held []*tmpDisk
	for range 2 {
		tmp, clone, err := d.take(ctx, 700)
		if err != nil {
			t.Fatalf("a 700 MB file system while idle ones hold every device: %v", err)
		}
		unix.Close(clone)
		held = append(held, tmp)
	}
	for _, tmp := range held {
		d.give(tmp, false)
	}
}
