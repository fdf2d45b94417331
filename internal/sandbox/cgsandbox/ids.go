package cgsandbox

import (
	"fmt"
	"sync"
)

// IDs are the ids of a backend's sandboxes from Create until their Destroy is done: no two
// sandboxes of one backend may share an id. The zero value is empty and ready to use.
type IDs struct {
	mu  sync.Mutex
	ids map[string]bool
}

// Reserve claims id for a new sandbox; an id in use is an error wrapping invalid, the
// backend's own sentinel.
func (s *IDs) Reserve(id string, invalid error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ids[id] {
		return fmt.Errorf("%w: sandbox %q exists", invalid, id)
	}
	if s.ids == nil {
		s.ids = map[string]bool{}
	}
	s.ids[id] = true
	return nil
}

// Release gives id back.
func (s *IDs) Release(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.ids, id)
}

// Has reports whether id is reserved.
func (s *IDs) Has(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ids[id]
}

// Len is how many ids are reserved.
func (s *IDs) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.ids)
}
