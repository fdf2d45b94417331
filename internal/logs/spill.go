package logs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// The spill is the store's overflow on disk. While the memory buffer is full, Write appends
// events to one file instead of dropping them or making its caller wait on JetStream; once
// the buffer has drained, the publisher reads the file back in order, and when it has stored
// all of it the file is emptied. Events spilled and not yet stored when the process stops
// stay in the file and are stored by the next Store opened on the same directory (possibly
// again, if the process stopped between storing a batch and noting it: the spill is
// at-least-once).
//
// A record is uvarint(len group) group, uvarint(len stream) stream, varint(timestamp ms),
// uvarint(len message) message. A record cut short by a crash ends the file; it is cut off
// when the file is opened.
const spillFile = "spill"

// errShortRecord is returned by decodeRecord when data ends inside a record.
var errShortRecord = errors.New("logs: spill record cut short")

type spill struct {
	f *os.File
	// r is the offset of the first record not yet stored, w the end of the last whole
	// record written. The bytes in [r, w) do not change until the file is emptied.
	r, w   int64
	broken bool // a write failed: spill no more
}

// openSpill opens (creating it as needed) dir's spill file, cuts off a record cut short at
// its end, and returns it with the count of whole records it holds.
func openSpill(dir string) (*spill, uint64, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, 0, fmt.Errorf("logs: spill directory: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, spillFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, 0, fmt.Errorf("logs: spill file: %w", err)
	}
	sp := &spill{f: f}
	var n uint64
	buf := make([]byte, 1<<20)
	var off int64
	carry := 0
	for {
		k, rerr := f.ReadAt(buf[carry:], off+int64(carry))
		data := buf[:carry+k]
		used := 0
		for {
			_, size, derr := decodeRecord(data[used:])
			if derr != nil {
				break
			}
			used += size
			n++
		}
		off += int64(used)
		carry = copy(buf, data[used:])
		if rerr == io.EOF || k == 0 {
			break
		}
		if rerr != nil {
			f.Close()
			return nil, 0, fmt.Errorf("logs: read spill file: %w", rerr)
		}
		if carry == len(buf) {
			buf = append(buf, make([]byte, len(buf))...)
		}
	}
	if err := f.Truncate(off); err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("logs: spill file: %w", err)
	}
	sp.w = off
	return sp, n, nil
}

// pending reports whether records wait to be stored.
func (sp *spill) pending() bool { return sp != nil && sp.r < sp.w }

// append writes records at the end of the file.
func (sp *spill) append(data []byte) error {
	if _, err := sp.f.WriteAt(data, sp.w); err != nil {
		return err
	}
	sp.w += int64(len(data))
	return nil
}

// read returns up to most events from [r, w) and the bytes they take; limit is the largest
// record the store writes.
func (sp *spill) read(r, w int64, most, limit int) ([]Event, int64, error) {
	size := min(w-r, int64(max(4<<20, limit)))
	buf := make([]byte, size)
	if _, err := sp.f.ReadAt(buf, r); err != nil && !errors.Is(err, io.EOF) {
		return nil, 0, err
	}
	var evs []Event
	used := 0
	for len(evs) < most && used < len(buf) {
		ev, n, err := decodeRecord(buf[used:])
		if err != nil {
			if used == 0 {
				return nil, 0, fmt.Errorf("logs: spill file at %d: %w", r, err)
			}
			break
		}
		evs = append(evs, ev)
		used += n
	}
	return evs, int64(used), nil
}

// reset empties the file once everything in it is stored.
func (sp *spill) reset() error {
	sp.r, sp.w = 0, 0
	return sp.f.Truncate(0)
}

func (sp *spill) close() error {
	if sp == nil {
		return nil
	}
	return sp.f.Close()
}

func appendRecord(b []byte, ev Event) []byte {
	b = binary.AppendUvarint(b, uint64(len(ev.Group)))
	b = append(b, ev.Group...)
	b = binary.AppendUvarint(b, uint64(len(ev.Stream)))
	b = append(b, ev.Stream...)
	b = binary.AppendVarint(b, ev.Time.UnixMilli())
	b = binary.AppendUvarint(b, uint64(len(ev.Message)))
	return append(b, ev.Message...)
}

func decodeRecord(data []byte) (Event, int, error) {
	used := 0
	str := func() (string, bool) {
		l, n := binary.Uvarint(data[used:])
		if n <= 0 || l > uint64(len(data)-used-n) {
			return "", false
		}
		used += n
		s := string(data[used : used+int(l)])
		used += int(l)
		return s, true
	}
	var ev Event
	var ok bool
	if ev.Group, ok = str(); !ok {
		return Event{}, 0, errShortRecord
	}
	if ev.Stream, ok = str(); !ok {
		return Event{}, 0, errShortRecord
	}
	ts, n := binary.Varint(data[used:])
	if n <= 0 {
		return Event{}, 0, errShortRecord
	}
	used += n
	ev.Time = time.UnixMilli(ts)
	if ev.Message, ok = str(); !ok {
		return Event{}, 0, errShortRecord
	}
	return ev, used, nil
}
