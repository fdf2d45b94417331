package logs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// index is the store's in-memory view of its groups and streams, kept up to date by the
// events this process stores and reconciled with JetStream (the stream's subjects and the
// group bucket) by refresh, so events stored by other processes and events aged out are seen.
type index struct {
	refreshMu sync.Mutex // serialises refresh
	mu        sync.Mutex
	groups    map[string]*groupMeta
}

type groupMeta struct {
	name     string
	creation int64
	recorded bool  // in the group bucket (or being put there)
	touched  int64 // unix ms of the last local change
	bytes    int64 // filled in groupList's copies only
	streams  map[string]*streamMeta
}

type streamMeta struct {
	name       string
	subject    string
	creation   int64
	first      int64 // timestamp of the first event
	last       int64 // timestamp of the last event
	lastIngest int64
	bytes      int64
	touched    int64
}

func (x *index) group(name string, now int64) *groupMeta {
	g := x.groups[name]
	if g == nil {
		g = &groupMeta{name: name, creation: now, streams: map[string]*streamMeta{}}
		x.groups[name] = g
	}
	return g
}

// noteStored records a stored event. It reports whether the group is not yet recorded in the
// group bucket (and from now on counts it as recorded: the caller puts it there).
func (x *index) noteStored(group, stream, subject string, ts, ingest, size int64) (record bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	g := x.group(group, ingest)
	g.touched = ingest
	st := g.streams[stream]
	if st == nil {
		st = &streamMeta{name: stream, subject: subject, creation: ingest, first: ts, last: ts}
		g.streams[stream] = st
	}
	st.first = min(st.first, ts)
	st.last = max(st.last, ts)
	st.lastIngest = max(st.lastIngest, ingest)
	st.bytes += size
	st.touched = ingest
	if !g.recorded {
		g.recorded = true
		return true
	}
	return false
}

func (x *index) forgetRecorded(group string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if g := x.groups[group]; g != nil {
		g.recorded = false
	}
}

func (x *index) setCreation(group string, creation int64) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if g := x.groups[group]; g != nil && creation > 0 {
		g.creation = creation
	}
}

// hasGroup reports whether the index knows the group.
func (x *index) hasGroup(name string) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.groups[name] != nil
}

// hasStream reports whether the index knows the stream.
func (x *index) hasStream(group, stream string) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	g := x.groups[group]
	return g != nil && g.streams[stream] != nil
}

func (x *index) remove(group string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	delete(x.groups, group)
}

// groupList returns copies of the groups, in name order.
func (x *index) groupList() []groupMeta {
	x.mu.Lock()
	defer x.mu.Unlock()
	out := make([]groupMeta, 0, len(x.groups))
	for _, g := range x.groups {
		c := *g
		c.streams = nil
		for _, st := range g.streams {
			c.touched = max(c.touched, st.touched)
			c.bytes += st.bytes
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// streamList returns copies of a group's streams, unordered, and whether the group exists.
func (x *index) streamList(group string) ([]streamMeta, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	g := x.groups[group]
	if g == nil {
		return nil, false
	}
	out := make([]streamMeta, 0, len(g.streams))
	for _, st := range g.streams {
		out = append(out, *st)
	}
	return out, true
}

// groupRecord is a group bucket entry's value.
type groupRecord struct {
	CreationTime int64 `json:"creationTime"`
}

// putGroup creates the bucket entry of group g unless it exists, and returns its creation
// time. It returns ErrGroupExists (and the existing creation time) if the entry exists.
func (s *Store) putGroup(ctx context.Context, g string, creation int64) (int64, error) {
	val, _ := json.Marshal(groupRecord{CreationTime: creation})
	key := escapeToken(g)
	if _, err := s.groups.Create(ctx, key, val); err != nil {
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return 0, fmt.Errorf("logs: record group %s: %w", g, err)
		}
		e, gerr := s.groups.Get(ctx, key)
		if gerr != nil {
			return 0, fmt.Errorf("logs: read group %s: %w", g, gerr)
		}
		var rec groupRecord
		_ = json.Unmarshal(e.Value(), &rec)
		return rec.CreationTime, ErrGroupExists
	}
	return creation, nil
}

// refresh reconciles the index with JetStream: groups in the bucket, streams with events in
// the stream (loading the first and last event of streams this process has not seen), and
// forgets streams whose events all aged out.
func (s *Store) refresh(ctx context.Context) error {
	s.idx.refreshMu.Lock()
	defer s.idx.refreshMu.Unlock()
	began := time.Now().UnixMilli()

	info, err := s.stream.Info(ctx, jetstream.WithSubjectFilter(s.subj.all()))
	if err != nil {
		return fmt.Errorf("logs: stream info: %w", err)
	}
	present := info.State.Subjects

	recorded := map[string]int64{}
	keys, err := s.groups.ListKeys(ctx)
	if err != nil && !errors.Is(err, jetstream.ErrNoKeysFound) {
		return fmt.Errorf("logs: list groups: %w", err)
	}
	if keys != nil {
		for k := range keys.Keys() {
			name, uerr := unescapeToken(k)
			if uerr != nil {
				continue
			}
			recorded[name] = 0
		}
		_ = keys.Stop()
	}

	// What the index lacks, found without holding its lock.
	s.idx.mu.Lock()
	var unknownSubjects []string
	for subj := range present {
		g, st, perr := s.subj.parse(subj)
		if perr != nil {
			continue
		}
		if gm := s.idx.groups[g]; gm == nil || gm.streams[st] == nil {
			unknownSubjects = append(unknownSubjects, subj)
		}
	}
	var unknownGroups []string
	for name := range recorded {
		if gm := s.idx.groups[name]; gm == nil || !gm.recorded {
			unknownGroups = append(unknownGroups, name)
		}
	}
	s.idx.mu.Unlock()

	loaded := map[string]*streamMeta{}
	for _, subj := range unknownSubjects {
		st, lerr := s.loadStream(ctx, subj, info.State.FirstSeq)
		if lerr != nil {
			if errors.Is(lerr, jetstream.ErrMsgNotFound) {
				continue
			}
			return lerr
		}
		loaded[subj] = st
	}
	for _, name := range unknownGroups {
		e, gerr := s.groups.Get(ctx, escapeToken(name))
		if gerr != nil {
			continue
		}
		var rec groupRecord
		_ = json.Unmarshal(e.Value(), &rec)
		if rec.CreationTime == 0 {
			rec.CreationTime = e.Created().UnixMilli()
		}
		recorded[name] = rec.CreationTime
	}

	s.idx.mu.Lock()
	defer s.idx.mu.Unlock()
	for subj, st := range loaded {
		g, name, _ := s.subj.parse(subj)
		gm := s.idx.group(g, st.creation)
		gm.creation = min(gm.creation, st.creation)
		if gm.streams[name] == nil {
			gm.streams[name] = st
		}
	}
	for name, creation := range recorded {
		gm := s.idx.groups[name]
		if gm == nil {
			gm = s.idx.group(name, creation)
		}
		if !gm.recorded && creation > 0 {
			gm.creation = creation
		}
		gm.recorded = true
	}
	for gname, gm := range s.idx.groups {
		for name, st := range gm.streams {
			if _, ok := present[st.subject]; !ok && st.touched < began {
				delete(gm.streams, name)
			}
		}
		if _, ok := recorded[gname]; !ok && len(gm.streams) == 0 && gm.touched < began {
			delete(s.idx.groups, gname)
		}
	}
	return nil
}

// loadStream reads the first and last event of a subject to describe its stream.
func (s *Store) loadStream(ctx context.Context, subj string, firstSeq uint64) (*streamMeta, error) {
	_, name, err := s.subj.parse(subj)
	if err != nil {
		return nil, err
	}
	first, err := s.stream.GetMsg(ctx, max(firstSeq, 1), jetstream.WithGetMsgSubject(subj))
	if err != nil {
		return nil, fmt.Errorf("logs: first event of %s: %w", subj, err)
	}
	last, err := s.stream.GetLastMsgForSubject(ctx, subj)
	if err != nil {
		return nil, fmt.Errorf("logs: last event of %s: %w", subj, err)
	}
	return &streamMeta{
		name:       name,
		subject:    subj,
		creation:   first.Time.UnixMilli(),
		first:      eventTime(first.Header.Get(timeHeader), first.Time),
		last:       eventTime(lastTime(last.Header), last.Time),
		lastIngest: last.Time.UnixMilli(),
	}, nil
}

// lastTime is the header holding the timestamp of a message's last event.
func lastTime(h nats.Header) string {
	if t := h.Get(lastTimeHeader); t != "" {
		return t
	}
	return h.Get(timeHeader)
}

// eventTime reads an event's timestamp header, falling back to its ingestion time.
func eventTime(h string, stored time.Time) int64 {
	if ms, err := strconv.ParseInt(h, 10, 64); err == nil {
		return ms
	}
	return stored.UnixMilli()
}
