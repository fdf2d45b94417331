package testenv

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
)

// recorder is a testing.TB whose Skip and Fatalf are recorded, ending only the goroutine that
// calls them, as the real ones do.
type recorder struct {
	testing.TB
	skipped, failed string
}

func (r *recorder) Helper() {}

func (r *recorder) Skip(args ...any) {
	r.skipped = fmt.Sprint(args...)
	runtime.Goexit()
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// run calls f with a recorder in a goroutine of its own and returns the recorder once f has
// returned or ended the goroutine, and whether f returned.
func run(t *testing.T, f func(testing.TB)) (r *recorder, returned bool) {
	r = &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
		returned = true
	}()
	<-done
	return r, returned
}

func TestNeedSkipsWithTheReasonOutsideCI(t *testing.T) {
	t.Setenv(CIEnv, "")
	r, returned := run(t, func(tb testing.TB) { Need(tb, "needs %s", "a thing") })
	if returned || r.skipped != "needs a thing" || r.failed != "" {
		t.Fatalf("returned %v, skipped %q, failed %q; want a skip saying %q", returned, r.skipped, r.failed, "needs a thing")
	}
}

func TestNeedFailsUnderCI(t *testing.T) {
	t.Setenv(CIEnv, "1")
	r, returned := run(t, func(tb testing.TB) { Need(tb, "needs %s", "a thing") })
	if returned || r.skipped != "" || !strings.HasPrefix(r.failed, "needs a thing; CI is set") {
		t.Fatalf("returned %v, skipped %q, failed %q; want a failure", returned, r.skipped, r.failed)
	}
}

func TestNeedCommandReturnsThePathOfAProgramThatIsThere(t *testing.T) {
	t.Setenv(CIEnv, "1")
	var path string
	r, returned := run(t, func(tb testing.TB) { path = NeedCommand(tb, "sh", "dash") })
	if !returned || !strings.HasSuffix(path, "/sh") {
		t.Fatalf("returned %v with %q (failed %q); want sh's path", returned, path, r.failed)
	}
}

func TestNeedCommandNamesThePackageOfAMissingProgram(t *testing.T) {
	t.Setenv(CIEnv, "")
	r, returned := run(t, func(tb testing.TB) { NeedCommand(tb, "ember-no-such-program", "ember-pkg") })
	if returned || !strings.Contains(r.skipped, "Debian package ember-pkg") {
		t.Fatalf("returned %v, skipped %q; want a skip naming the package", returned, r.skipped)
	}
}

func TestCheckForReturnsOnceTheConditionHolds(t *testing.T) {
	calls := 0
	r, returned := run(t, func(tb testing.TB) {
		CheckFor(tb, time.Minute, time.Millisecond, func() error {
			calls++
			if calls < 3 {
				return errors.New("not yet")
			}
			return nil
		})
	})
	if !returned || calls != 3 || r.failed != "" {
		t.Fatalf("returned %v after %d calls (failed %q); want a return on the third call", returned, calls, r.failed)
	}
}

func TestCheckForFailsWithTheLastErrorAfterTotal(t *testing.T) {
	calls := 0
	r, returned := run(t, func(tb testing.TB) {
		CheckFor(tb, 20*time.Millisecond, time.Millisecond, func() error {
			calls++
			return fmt.Errorf("attempt %d", calls)
		})
	})
	want := fmt.Sprintf("attempt %d", calls)
	if returned || calls < 2 || !strings.HasSuffix(r.failed, want) {
		t.Fatalf("returned %v after %d calls, failed %q; want a failure ending %q", returned, calls, r.failed, want)
	}
}
