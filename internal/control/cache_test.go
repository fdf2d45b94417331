package control_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ember-serverless/ember/internal/control"
	"github.com/ember-serverless/ember/internal/state/statetest"
	"github.com/ember-serverless/ember/internal/testenv"
)

// deletions records the names an OnDelete callback is called with.
type deletions struct {
	mu    sync.Mutex
	names []string
}

func (d *deletions) add(name string) {
	d.mu.Lock()
	d.names = append(d.names, name)
	d.mu.Unlock()
}

func (d *deletions) get() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.names)
}

func TestTheRegistryPublishesEachDeletionOnceToItsOwnAndToOtherRegistries(t *testing.T) {
	ctx := context.Background()
	st := statetest.New(t)
	a := openRegistry(t, st)
	b := openRegistry(t, st)
	var seenA, seenB deletions
	a.OnDelete(seenA.add)
	b.OnDelete(seenB.add)
	for _, name := range []string{"gone", "kept"} {
		if _, err := a.Create(ctx, createInput(t, name)); err != nil {
			t.Fatal(err)
		}
	}
	waitConfig(t, b, "gone", isState(control.StateActive, "")) // in the other registry
	waitConfig(t, b, "kept", isState(control.StateActive, ""))
	if err := a.Delete(ctx, "gone", ""); err != nil {
		t.Fatal(err)
	}
	if got := seenA.get(); !slices.Equal(got, []string{"gone"}) {
		t.Errorf("the deleting registry published %q by the time Delete returned, want [gone]", got)
	}
	testenv.CheckFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		if len(seenB.get()) == 0 {
			return errors.New("the other registry has not published the deletion")
		}
		return nil
	})
	// A later change lets every earlier watch event arrive: no second event for the same deletion.
	if _, err := a.Create(ctx, createInput(t, "later")); err != nil {
		t.Fatal(err)
	}
	waitConfig(t, a, "later", isState(control.StateActive, "")) // in both registries
	waitConfig(t, b, "later", isState(control.StateActive, ""))
	for reg, seen := range map[string]*deletions{"deleting": &seenA, "other": &seenB} {
		if got := seen.get(); !slices.Equal(got, []string{"gone"}) {
			t.Errorf("the %s registry published %q, want exactly [gone]", reg, got)
		}
	}
}

func TestARegistryOpenedOnDeletedRecordsPublishesNothing(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st := statetest.NewIn(t, dir)
	a := openRegistry(t, st)
	if _, err := a.Create(ctx, createInput(t, "gone")); err != nil {
		t.Fatal(err)
	}
	if err := a.Delete(ctx, "gone", ""); err != nil {
		t.Fatal(err)
	}
	b := openRegistry(t, st)
	var seen deletions
	b.OnDelete(seen.add)
	if _, err := b.Create(ctx, createInput(t, "gone")); err != nil {
		t.Fatal(err)
	}
	waitConfig(t, b, "gone", isState(control.StateActive, "")) // re-created
	if got := seen.get(); len(got) != 0 {
		t.Errorf("a registry that loaded a delete marker published %q, want nothing", got)
	}
}
