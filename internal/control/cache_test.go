package control_test

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/ember-serverless/ember/internal/control"
	"github.com/ember-serverless/ember/internal/state/statetest"
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
	eventually(t, "the other registry to see both functions Active", func() bool {
		f, ok1 := b.Lookup("gone")
		g, ok2 := b.Lookup("kept")
		return ok1 && ok2 && f.Config.State == control.StateActive && g.Config.State == control.StateActive
	})
	if err := a.Delete(ctx, "gone", ""); err != nil {
		t.Fatal(err)
	}
	if got := seenA.get(); !slices.Equal(got, []string{"gone"}) {
		t.Errorf("the deleting registry published %q by the time Delete returned, want [gone]", got)
	}
	eventually(t, "the other registry to publish the deletion", func() bool { return len(seenB.get()) > 0 })
	// A later change lets every earlier watch event arrive: no second event for the same deletion.
	if _, err := a.Create(ctx, createInput(t, "later")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "both registries to see the later function", func() bool {
		_, ok1 := a.Lookup("later")
		_, ok2 := b.Lookup("later")
		return ok1 && ok2
	})
	eventually(t, "both registries to see it Active", func() bool {
		f, _ := b.Lookup("later")
		g, _ := a.Lookup("later")
		return f.Config.State == control.StateActive && g.Config.State == control.StateActive
	})
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
	eventually(t, "the re-created function to become Active", func() bool {
		f, ok := b.Lookup("gone")
		return ok && f.Config.State == control.StateActive
	})
	if got := seen.get(); len(got) != 0 {
		t.Errorf("a registry that loaded a delete marker published %q, want nothing", got)
	}
}
