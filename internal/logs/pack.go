package logs

import (
	"encoding/binary"
	"errors"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"
)

// Events are stored packed, many to a JetStream message, because storing each line as a
// message of its own costs the invoke path more than anything else it does. Two formats are
// stored; the Ember-Log-Pack header says which.
//
// Format 2 (written since December 2026): one message holds consecutive events of many
// streams of one log group, on the group's subject "<prefix>.<group>". Its Ember-Log-Streams
// header lists the streams the pack holds, space-separated, each as
// "<escaped name>,<first timestamp>,<last timestamp>,<message bytes>", so that the index of
// streams can be rebuilt from headers alone. Its data is its events in order, each as
// uvarint(index of its stream in that list), uvarint(timestamp ms), uvarint(length) and the
// message bytes.
//
// Format 1 (written before): one message holds consecutive events of one stream, on the
// stream's subject "<prefix>.<group>.<stream>". Its data is its events in order, each as
// uvarint(timestamp ms), uvarint(length) and the message bytes; its Ember-Log-Time and
// Ember-Log-Last headers carry its first and last timestamps. A message of that subject
// without the pack header is one event, its data the message, its timestamp in
// Ember-Log-Time. Both are still read, and never written.
const (
	packHeader     = "Ember-Log-Pack"
	streamsHeader  = "Ember-Log-Streams"
	lastTimeHeader = "Ember-Log-Last"
	packVersion1   = "1"
	packVersion2   = "2"
	// packSpan is how many positions a message occupies: an event's position, which tokens
	// and eventIds are made of, is its message's stream sequence × packSpan + its index in
	// the message's pack.
	packSpan = 1 << 12
	// streamEntryOverhead bounds the bytes of a stream's entry in Ember-Log-Streams beyond
	// its escaped name.
	streamEntryOverhead = 3*20 + 4
)

// errBadPack is returned for a pack whose data or headers do not decode.
var errBadPack = errors.New("logs: malformed event pack")

// packStream is one stream's entry in a format 2 pack.
type packStream struct {
	name        string
	token       string // escaped name
	first, last int64  // timestamps, ms
	bytes       int64
}

// packer builds a format 2 pack of one group's events.
type packer struct {
	subject string
	events  []Event
	data    []byte
	streams []packStream
	header  int // bytes of the Ember-Log-Streams header so far
	lastIdx int // the index of the last event's stream, tried first
}

// streamIndex returns the index of stream in the pack, or -1.
func (p *packer) streamIndex(stream string) int {
	if p.lastIdx < len(p.streams) && p.streams[p.lastIdx].name == stream {
		return p.lastIdx
	}
	for i := range p.streams {
		if p.streams[i].name == stream {
			return i
		}
	}
	return -1
}

// fits reports whether ev can join the pack without its data and headers passing limit
// bytes, or the pack passing packSpan events. An empty pack takes any event.
func (p *packer) fits(ev Event, limit int) bool {
	if len(p.events) == 0 {
		return true
	}
	if len(p.events) >= packSpan {
		return false
	}
	size := len(p.data) + p.header + len(ev.Message) + 3*binary.MaxVarintLen64
	if p.streamIndex(ev.Stream) < 0 {
		size += len(ev.Stream)*3 + streamEntryOverhead
	}
	return size <= limit
}

func (p *packer) add(ev Event) {
	ts := ev.Time.UnixMilli()
	i := p.streamIndex(ev.Stream)
	if i < 0 {
		i = len(p.streams)
		tok := escapeToken(ev.Stream)
		p.streams = append(p.streams, packStream{name: ev.Stream, token: tok, first: ts, last: ts})
		p.header += len(tok) + streamEntryOverhead
	}
	st := &p.streams[i]
	st.first, st.last = min(st.first, ts), max(st.last, ts)
	st.bytes += int64(len(ev.Message))
	p.lastIdx = i
	p.data = binary.AppendUvarint(p.data, uint64(i))
	p.data = binary.AppendUvarint(p.data, uint64(ts))
	p.data = binary.AppendUvarint(p.data, uint64(len(ev.Message)))
	p.data = append(p.data, ev.Message...)
	p.events = append(p.events, ev)
}

// msg is the pack as a message.
func (p *packer) msg() *nats.Msg {
	b := make([]byte, 0, p.header)
	for i, st := range p.streams {
		if i > 0 {
			b = append(b, ' ')
		}
		b = append(b, st.token...)
		b = append(b, ',')
		b = strconv.AppendInt(b, st.first, 10)
		b = append(b, ',')
		b = strconv.AppendInt(b, st.last, 10)
		b = append(b, ',')
		b = strconv.AppendInt(b, st.bytes, 10)
	}
	return &nats.Msg{
		Subject: p.subject,
		Header: nats.Header{
			packHeader:    []string{packVersion2},
			streamsHeader: []string{string(b)},
		},
		Data: p.data,
	}
}

// parseStreams reads a format 2 pack's Ember-Log-Streams header.
func parseStreams(h string) ([]packStream, error) {
	if h == "" {
		return nil, errBadPack
	}
	var out []packStream
	for entry := range strings.SplitSeq(h, " ") {
		f := strings.Split(entry, ",")
		if len(f) != 4 {
			return nil, errBadPack
		}
		name, err := unescapeToken(f[0])
		if err != nil {
			return nil, errBadPack
		}
		first, err1 := strconv.ParseInt(f[1], 10, 64)
		last, err2 := strconv.ParseInt(f[2], 10, 64)
		bytes, err3 := strconv.ParseInt(f[3], 10, 64)
		if name == "" || err1 != nil || err2 != nil || err3 != nil {
			return nil, errBadPack
		}
		out = append(out, packStream{name: name, token: f[0], first: first, last: last, bytes: bytes})
	}
	return out, nil
}

// unpack calls fn with each event of a format 1 pack: its index, timestamp and message.
func unpack(data []byte, fn func(i int, ts int64, msg string) bool) error {
	for i := 0; len(data) > 0; i++ {
		ts, n := binary.Uvarint(data)
		if n <= 0 {
			return errBadPack
		}
		data = data[n:]
		l, n := binary.Uvarint(data)
		if n <= 0 || l > uint64(len(data)-n) {
			return errBadPack
		}
		data = data[n:]
		if !fn(i, int64(ts), string(data[:l])) {
			return nil
		}
		data = data[l:]
	}
	return nil
}

// unpack2 calls fn with each event of a format 2 pack of streams streams: its index, its
// stream's index, timestamp and message.
func unpack2(data []byte, streams int, fn func(i, stream int, ts int64, msg string) bool) error {
	for i := 0; len(data) > 0; i++ {
		st, n := binary.Uvarint(data)
		if n <= 0 || st >= uint64(streams) {
			return errBadPack
		}
		data = data[n:]
		ts, n := binary.Uvarint(data)
		if n <= 0 {
			return errBadPack
		}
		data = data[n:]
		l, n := binary.Uvarint(data)
		if n <= 0 || l > uint64(len(data)-n) {
			return errBadPack
		}
		data = data[n:]
		if !fn(i, int(st), int64(ts), string(data[:l])) {
			return nil
		}
		data = data[l:]
	}
	return nil
}
