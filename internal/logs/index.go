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

// index is the store's in-memory view of its groups and streams. refresh builds it from the
// stream's message headers (read without their data, see pack.go), reading on each call only
// the messages stored since the last, whoever stored them; it forgets streams whose events
// all aged out or were purged, and reads the groups from the group bucket.
type index struct {
	refreshMu sync.Mutex // serialises refresh
	mu        sync.Mutex
	groups    map[string]*groupMeta
	scanned   uint64 // the last stream sequence read into the index
}

type groupMeta struct {
	name     string
	creation int64
	recorded bool  // in the group bucket
	touched  int64 // unix ms of the last local change
	bytes    int64 // filled in groupList's copies only
	streams  map[string]*streamMeta
}

type streamMeta struct {
	name       string
	subject    string // of its last message
	creation   int64
	first      int64 // timestamp of the first event
	last       int64 // timestamp of the last event
	lastIngest int64
	bytes      int64
	touched    int64
	// firstSeq and lastSeq are the stream sequences of its first and last messages.
	firstSeq, lastSeq uint64
}

func (x *index) group(name string, now int64) *groupMeta {
	g := x.groups[name]
	if g == nil {
		g = &groupMeta{name: name, creation: now, streams: map[string]*streamMeta{}}
		x.groups[name] = g
	}
	return g
}

// note records that message seq, stored at ingest, holds events of a stream from first to
// last (timestamps) taking bytes.
func (x *index) note(group, stream, subject string, seq uint64, first, last, ingest, bytes int64) {
	x.mu.Lock()
	defer x.mu.Unlock()
	g := x.group(group, ingest)
	g.creation = min(g.creation, ingest)
	st := g.streams[stream]
	if st == nil {
		st = &streamMeta{name: stream, creation: ingest, first: first, last: last, firstSeq: seq}
		g.streams[stream] = st
	}
	st.subject = subject
	st.first = min(st.first, first)
	st.last = max(st.last, last)
	st.lastIngest = max(st.lastIngest, ingest)
	st.bytes += bytes
	st.lastSeq = max(st.lastSeq, seq)
}

// firstSeq returns the stream sequence of a stream's first message, 0 if unknown.
func (x *index) firstSeq(group, stream string) uint64 {
	x.mu.Lock()
	defer x.mu.Unlock()
	if g := x.groups[group]; g != nil {
		if st := g.streams[stream]; st != nil {
			return st.firstSeq
		}
	}
	return 0
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

// refresh brings the index up to date with JetStream: it reads the headers of the messages
// stored since the last refresh, forgets streams whose messages all aged out or were purged,
// and reads the groups in the bucket.
func (s *Store) refresh(ctx context.Context) error {
	s.idx.refreshMu.Lock()
	defer s.idx.refreshMu.Unlock()
	began := time.Now().UnixMilli()

	info, err := s.stream.Info(ctx, jetstream.WithSubjectFilter(s.subj.all()))
	if err != nil {
		return fmt.Errorf("logs: stream info: %w", err)
	}
	present := info.State.Subjects
	scanned := info.State.LastSeq
	if from := max(s.idx.scanned+1, info.State.FirstSeq); info.State.Msgs > 0 && from <= info.State.LastSeq {
		scanned, err = s.scanHeaders(ctx, from, info.State.LastSeq)
		// What was read stays read, even if the rest failed.
		s.idx.mu.Lock()
		s.idx.scanned = max(s.idx.scanned, scanned)
		s.idx.mu.Unlock()
		if err != nil {
			return err
		}
	}
	s.idx.mu.Lock()
	s.idx.scanned = max(s.idx.scanned, scanned)
	s.idx.mu.Unlock()

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
	s.idx.mu.Lock()
	var unknownGroups []string
	for name := range recorded {
		if gm := s.idx.groups[name]; gm == nil || !gm.recorded {
			unknownGroups = append(unknownGroups, name)
		}
	}
	s.idx.mu.Unlock()
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
			if _, ok := present[st.subject]; (!ok || st.lastSeq < info.State.FirstSeq) && st.touched < began {
				delete(gm.streams, name)
			}
		}
		if _, ok := recorded[gname]; !ok && len(gm.streams) == 0 && gm.touched < began {
			delete(s.idx.groups, gname)
		}
	}
	return nil
}

// msgSizeHeader carries a message's data size when a consumer delivers headers only.
const msgSizeHeader = "Nats-Msg-Size"

// headerBatch is how many messages' headers one fetch of scanHeaders reads.
const headerBatch = 4096

// scanHeaders reads the headers of the messages from stream sequence from to to into the
// index, and returns the last sequence it read up to: to, unless it failed first.
func (s *Store) scanHeaders(ctx context.Context, from, to uint64) (uint64, error) {
	cons, err := s.stream.CreateConsumer(ctx, jetstream.ConsumerConfig{
		AckPolicy:         jetstream.AckNonePolicy,
		InactiveThreshold: time.Minute,
		MemoryStorage:     true,
		Replicas:          1,
		HeadersOnly:       true,
		FilterSubject:     s.subj.all(),
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       from,
	})
	if err != nil {
		return from - 1, fmt.Errorf("logs: index consumer: %w", err)
	}
	ci := cons.CachedInfo()
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = s.stream.DeleteConsumer(dctx, ci.Name)
	}()
	read, pending := from-1, ci.NumPending
	groups := map[string]string{} // subject → group name, for the subjects seen
	for idle := 0; pending > 0; {
		if err := ctx.Err(); err != nil {
			return read, err
		}
		batch, err := cons.FetchNoWait(headerBatch)
		if err != nil {
			return read, fmt.Errorf("logs: index: %w", err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			md, err := m.Metadata()
			if err != nil {
				return read, fmt.Errorf("logs: index: %w", err)
			}
			seq := md.Sequence.Stream
			if seq > to {
				return to, nil
			}
			s.indexMessage(m.Subject(), m.Headers(), seq, md.Timestamp, groups)
			read, pending = seq, md.NumPending
			if seq == to {
				return to, nil
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, context.DeadlineExceeded) {
			return read, fmt.Errorf("logs: index: %w", err)
		}
		if n > 0 {
			idle = 0
			continue
		}
		// Messages are pending and none came: the server has not loaded them yet, or they
		// were removed meanwhile. Try again for a while, then leave the rest to the next
		// refresh.
		if idle++; idle > 50 {
			return read, nil
		}
		select {
		case <-time.After(20 * time.Millisecond):
		case <-ctx.Done():
			return read, ctx.Err()
		}
	}
	return to, nil
}

// indexMessage notes in the index the streams whose events a message holds, from its
// subject and headers; a message it cannot read is skipped, as queries would fail on it.
func (s *Store) indexMessage(subject string, h nats.Header, seq uint64, stored time.Time, groups map[string]string) {
	ingest := stored.UnixMilli()
	if h.Get(packHeader) == packVersion2 {
		group, ok := groups[subject]
		if !ok {
			g, _, err := s.subj.parse(subject)
			if err != nil {
				return
			}
			group, groups[subject] = g, g
		}
		streams, err := parseStreams(h.Get(streamsHeader))
		if err != nil {
			return
		}
		for _, st := range streams {
			s.idx.note(group, st.name, subject, seq, st.first, st.last, ingest, st.bytes)
		}
		return
	}
	group, stream, err := s.subj.parse(subject)
	if err != nil || stream == "" {
		return
	}
	size, _ := strconv.ParseInt(h.Get(msgSizeHeader), 10, 64)
	s.idx.note(group, stream, subject, seq, eventTime(h.Get(timeHeader), stored), eventTime(lastTime(h), stored), ingest, size)
}

// lastTime is the header holding the timestamp of a format 1 message's last event.
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
