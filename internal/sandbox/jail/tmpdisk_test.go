//go:build linux

package jail

import (
	"errors"
	"os"
	"strings"
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
	used, clone, err := d.take(512)
	if err != nil {
		t.Fatal(err)
	}
	fill(t, clone, 5, 1)
	unix.Close(clone)
	d.give(used, true)

	// Once cleaned, it is kept: take until it comes back (spares may be ahead of it).
	testenv.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		t2, clone, err := d.take(512)
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
			tmp, clone, err := d.take(512)
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
	tmp, clone, err := d.take(512)
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
