package cgsandbox

import (
	"errors"
	"testing"
)

func TestAnIDIsReservedOnceUntilReleased(t *testing.T) {
	invalid := errors.New("invalid spec")
	var ids IDs
	if err := ids.Reserve("a", invalid); err != nil {
		t.Fatalf("a first Reserve: %v", err)
	}
	if err := ids.Reserve("a", invalid); !errors.Is(err, invalid) {
		t.Fatalf("a second Reserve of the same id = %v, want the backend's sentinel", err)
	}
	if !ids.Has("a") || ids.Has("b") || ids.Len() != 1 {
		t.Fatalf("Has(a) %v, Has(b) %v, Len %d after one Reserve", ids.Has("a"), ids.Has("b"), ids.Len())
	}
	ids.Release("a")
	if ids.Has("a") || ids.Len() != 0 {
		t.Fatal("a released id is still reserved")
	}
	if err := ids.Reserve("a", invalid); err != nil {
		t.Fatalf("Reserve after Release: %v", err)
	}
}
