//go:build linux

package microvm

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/ember-serverless/ember/internal/sandbox"
	"github.com/ember-serverless/ember/internal/sandbox/microvm/wire"
)

// snapshot is a saved, initialized VM: its RAM (restored copy-on-write, so that clones share
// the pages they do not write), its device state, and its scratch disk as it was.
type snapshot struct {
	key      string
	dir      string
	mem      string // guest RAM
	state    string // QEMU's device state (migration stream without RAM)
	scratch  string // the scratch disk, copied for each clone
	memoryMB int
	fnImg    string
}

var _ sandbox.Snapshotter = (*vmSandbox)(nil)
var _ sandbox.Restorer = (*vmSandbox)(nil)

// errNoSnapshotKey is returned by Snapshot for a sandbox whose spec has no SnapshotKey.
var errNoSnapshotKey = errors.New("microvm: the sandbox has no snapshot key")

// snapshotOf returns the snapshot of key, or nil.
func (b *Backend) snapshotOf(key string) *snapshot {
	if key == "" {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.snapshots[key]
}

var _ sandbox.SnapshotBackend = (*Backend)(nil)

// SnapshotsSandboxes is true: sandboxes with a SnapshotKey are snapshotted and restored.
func (b *Backend) SnapshotsSandboxes() bool { return true }

// HasSnapshot says whether the backend holds a snapshot for key.
func (b *Backend) HasSnapshot(key string) bool { return b.snapshotOf(key) != nil }

// Snapshot saves the VM as the snapshot of Spec.SnapshotKey and goes on as a clone of it,
// exactly as every later sandbox of that key starts: the agent ends its data session, QEMU
// saves the device state (the RAM is already in its file), the VM is restored from the
// snapshot and made unique. Connections relayed at the time break on the host side, and the
// runtime's unanswered request is sent again on the restored VM's session.
func (s *vmSandbox) Snapshot(ctx context.Context) error {
	if s.spec.SnapshotKey == "" {
		return errNoSnapshotKey
	}
	s.mu.Lock()
	v, sess, restored, destroyed := s.vm, s.sess, s.restored != 0, s.destroyed
	s.mu.Unlock()
	switch {
	case destroyed:
		return sandbox.ErrDestroyed
	case restored:
		return errors.New("microvm: a restored sandbox is not snapshotted again")
	case s.b.snapshotOf(s.spec.SnapshotKey) != nil:
		return fmt.Errorf("microvm: snapshot %s exists", s.spec.SnapshotKey)
	}
	start := time.Now()
	if _, err := s.call(ctx, wire.Request{Op: wire.OpQuiesce}); err != nil {
		return err
	}
	// From here the VM is replaced: its end is not the sandbox's.
	s.mu.Lock()
	s.gen++
	s.mu.Unlock()
	sess.Close()
	snap, err := s.b.save(v, s, start)
	if err != nil {
		s.finish(sandbox.ExitStatus{Code: -1, Signal: "killed"})
		return err
	}
	if err := s.b.restoreInto(ctx, s, snap); err != nil {
		s.finish(sandbox.ExitStatus{Code: -1, Signal: "killed"})
		return err
	}
	s.b.log.Info("snapshot taken", "sandbox", s.spec.ID, "key", s.spec.SnapshotKey, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// save stops the VM, writes its device state, ends QEMU and keeps its RAM file and scratch disk
// as the snapshot.
func (b *Backend) save(v *vm, s *vmSandbox, start time.Time) (*snapshot, error) {
	sum := sha256.Sum256([]byte(s.spec.SnapshotKey))
	dir := filepath.Join(b.cfg.MemDir, "ember-snap-"+hex.EncodeToString(sum[:12]))
	os.RemoveAll(dir)
	if err := os.Mkdir(dir, 0o700); err != nil {
		v.kill()
		return nil, fmt.Errorf("microvm: snapshot: %w", err)
	}
	snap := &snapshot{
		key:      s.spec.SnapshotKey,
		dir:      dir,
		mem:      filepath.Join(dir, "mem"),
		state:    filepath.Join(dir, "state"),
		scratch:  filepath.Join(s.b.cfg.StateDir, "snap-"+hex.EncodeToString(sum[:12])+".ext4"),
		memoryMB: s.memoryMB,
		fnImg:    s.fnImg,
	}
	err := func() error {
		q := v.qmp
		if _, err := q.do("stop", nil); err != nil {
			return err
		}
		if _, err := q.do("migrate-set-capabilities", map[string]any{"capabilities": []map[string]any{{"capability": "x-ignore-shared", "state": true}}}); err != nil {
			return err
		}
		if _, err := q.do("migrate", map[string]any{"uri": "exec:cat > " + snap.state}); err != nil {
			return err
		}
		if err := q.migrationDone(2 * time.Minute); err != nil {
			return err
		}
		q.do("quit", nil)
		return nil
	}()
	v.kill()
	if err == nil {
		// The RAM file is the snapshot's memory now; the scratch disk is kept as it was.
		if err = os.Rename(s.memFile, snap.mem); err == nil {
			s.memFile = ""
			err = os.Rename(s.scratch, snap.scratch)
		}
	}
	if err != nil {
		os.RemoveAll(dir)
		os.Remove(snap.scratch)
		return nil, fmt.Errorf("microvm: snapshot: %w%s", err, qemuLog(s.dir))
	}
	b.mu.Lock()
	b.snapshots[snap.key] = snap
	b.mu.Unlock()
	return snap, nil
}

// restoreInto starts a VM from the snapshot for s and makes it unique: the guest's clock is set
// to the host's and its random generator reseeded with host entropy before the agent opens
// its new data session, so that nothing the function does after the restore repeats across
// clones.
func (b *Backend) restoreInto(ctx context.Context, s *vmSandbox, snap *snapshot) error {
	start := time.Now()
	m := machine{
		dir:        s.dir,
		memoryMB:   snap.memoryMB,
		memFile:    snap.mem,
		rootImg:    b.rootImg,
		fnImg:      snap.fnImg,
		scratch:    snap.scratch,
		scratchCOW: true,
		incoming:   true,
	}
	v, c, err := b.bootVM(ctx, m)
	if err != nil {
		return err
	}
	started := time.Now()
	err = func() error {
		q := v.qmp
		if _, err := q.do("migrate-set-capabilities", map[string]any{"capabilities": []map[string]any{{"capability": "x-ignore-shared", "state": true}}}); err != nil {
			return err
		}
		if _, err := q.do("migrate-incoming", map[string]any{"uri": "exec:cat " + snap.state}); err != nil {
			return err
		}
		if err := q.migrationDone(2 * time.Minute); err != nil {
			return err
		}
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(time.Millisecond) {
			st, err := q.status()
			if err != nil {
				return err
			}
			if st != "inmigrate" {
				break
			}
			if time.Now().After(deadline) {
				return errors.New("the VM stayed in migration")
			}
		}
		_, err := q.do("cont", nil)
		return err
	}()
	if err != nil {
		v.kill()
		return fmt.Errorf("microvm: restore: %w%s", err, qemuLog(s.dir))
	}
	s.attach(v, c)
	loaded := time.Now()
	entropy := make([]byte, 64)
	rand.Read(entropy)
	ctx, cancel := context.WithTimeout(ctx, b.cfg.BootTimeout)
	defer cancel()
	if _, err := s.call(ctx, wire.Request{Op: wire.OpResume, Resume: &wire.Resume{UnixNano: time.Now().UnixNano(), Entropy: entropy}}); err != nil {
		return fmt.Errorf("%w%s", err, qemuLog(s.dir))
	}
	s.mu.Lock()
	s.restored = time.Since(start)
	s.mu.Unlock()
	b.log.Debug("restored", "sandbox", s.spec.ID, "qemu_start", started.Sub(start), "load", loaded.Sub(started), "resume", time.Since(loaded))
	return nil
}

// restore creates a sandbox from a snapshot: the runtime in it is initialized and waiting for
// its first invocation, so Start has nothing left to do.
func (b *Backend) restore(ctx context.Context, spec sandbox.Spec, snap *snapshot) (*vmSandbox, error) {
	dir := filepath.Join(b.cfg.StateDir, "vm-"+spec.ID)
	if err := os.Mkdir(dir, 0o700); err != nil {
		return nil, fmt.Errorf("microvm: %w", err)
	}
	s := newSandbox(b, spec, dir)
	s.memoryMB, s.fnImg = snap.memoryMB, snap.fnImg
	s.memFile = "" // the snapshot's, not the sandbox's own
	if err := b.restoreInto(ctx, s, snap); err != nil {
		s.cleanup()
		return nil, err
	}
	return s, nil
}

// RestoreDuration is how long the restore took, from the snapshot to the agent's answer, or
// zero for a sandbox that booted afresh.
func (s *vmSandbox) RestoreDuration() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.restored
}

// dropSnapshots removes every snapshot's files.
func (b *Backend) dropSnapshots() {
	b.mu.Lock()
	snaps := b.snapshots
	b.snapshots = map[string]*snapshot{}
	b.mu.Unlock()
	for _, snap := range snaps {
		os.RemoveAll(snap.dir)
		os.Remove(snap.scratch)
	}
}
