package logs

import (
	"encoding/binary"
	"errors"
	"strconv"

	"github.com/nats-io/nats.go"
)

// Events of one log stream are stored packed, many to a JetStream message, because storing
// each line as a message of its own costs the invoke path more than anything else it does.
//
// A pack's data is its events in order, each as uvarint(timestamp ms), uvarint(length) and
// the message bytes. Its headers say it is a pack and carry its first and last timestamps.
// A message without the pack header is one event, its data the message.
const (
	packHeader     = "Ember-Log-Pack"
	lastTimeHeader = "Ember-Log-Last"
	// packSpan is how many positions a message occupies: an event's position, which tokens
	// and eventIds are made of, is its message's stream sequence × packSpan + its index in
	// the pack.
	packSpan = 1 << 12
)

// errBadPack is returned for a pack whose data does not decode.
var errBadPack = errors.New("logs: malformed event pack")

// packer builds the packs of one log stream.
type packer struct {
	subject string
	events  []Event
	data    []byte
}

// fits reports whether ev can join the pack without passing max bytes or packSpan events.
func (p *packer) fits(ev Event, max int) bool {
	return len(p.events) == 0 || (len(p.events) < packSpan && len(p.data)+len(ev.Message)+2*binary.MaxVarintLen64 <= max)
}

func (p *packer) add(ev Event) {
	p.data = binary.AppendUvarint(p.data, uint64(ev.Time.UnixMilli()))
	p.data = binary.AppendUvarint(p.data, uint64(len(ev.Message)))
	p.data = append(p.data, ev.Message...)
	p.events = append(p.events, ev)
}

// msg is the pack as a message.
func (p *packer) msg() *nats.Msg {
	return &nats.Msg{
		Subject: p.subject,
		Header: nats.Header{
			packHeader:     []string{"1"},
			timeHeader:     []string{strconv.FormatInt(p.events[0].Time.UnixMilli(), 10)},
			lastTimeHeader: []string{strconv.FormatInt(p.events[len(p.events)-1].Time.UnixMilli(), 10)},
		},
		Data: p.data,
	}
}

// unpack calls fn with each event of a pack: its index, timestamp and message.
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
