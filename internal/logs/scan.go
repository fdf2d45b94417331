package logs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// record is one stored event as queries see it.
type record struct {
	// seq is the event's position: its message's stream sequence × packSpan + its index in
	// the message's pack.
	seq    uint64
	stream string
	ts     int64 // the event's timestamp, ms
	ingest int64 // when it was stored, ms
	msg    string
}

// scanRange says which stored messages a scan reads, in stream order.
type scanRange struct {
	filters []string
	// startSeq, when non-zero, is the first position read; otherwise startTime, when
	// non-zero, is the earliest stored time (unix ms) read.
	startSeq  uint64
	startTime int64
	// stopSeq, when non-zero, ends the scan before this position.
	stopSeq uint64
	// stopIngest, when non-zero, ends the scan at the first message stored after it (unix ms).
	stopIngest int64
}

const fetchBatch = 500

// scan calls fn for the messages in r in stream order until fn returns false or the range
// ends; it reports whether the range ended (rather than fn stopping it).
func (s *Store) scan(ctx context.Context, r scanRange, fn func(record) bool) (ended bool, err error) {
	cc := jetstream.ConsumerConfig{
		AckPolicy:         jetstream.AckNonePolicy,
		InactiveThreshold: time.Minute,
		MemoryStorage:     true,
		Replicas:          1,
		DeliverPolicy:     jetstream.DeliverAllPolicy,
	}
	if len(r.filters) == 1 {
		cc.FilterSubject = r.filters[0]
	} else {
		cc.FilterSubjects = r.filters
	}
	switch {
	case r.startSeq > 0:
		cc.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		cc.OptStartSeq = max(r.startSeq/packSpan, 1)
	case r.startTime > 0:
		t := time.UnixMilli(r.startTime)
		cc.DeliverPolicy = jetstream.DeliverByStartTimePolicy
		cc.OptStartTime = &t
	}
	cons, err := s.stream.CreateConsumer(ctx, cc)
	if err != nil {
		return false, fmt.Errorf("logs: read consumer: %w", err)
	}
	ci := cons.CachedInfo()
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = s.stream.DeleteConsumer(dctx, ci.Name)
	}()
	if ci.NumPending == 0 {
		return true, nil
	}
	for {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		batch, err := cons.FetchNoWait(fetchBatch)
		if err != nil {
			return false, fmt.Errorf("logs: read: %w", err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			md, err := m.Metadata()
			if err != nil {
				return false, fmt.Errorf("logs: read: %w", err)
			}
			base := md.Sequence.Stream * packSpan
			if r.stopSeq > 0 && base >= r.stopSeq {
				return true, nil
			}
			ingest := md.Timestamp.UnixMilli()
			if r.stopIngest > 0 && ingest > r.stopIngest {
				return true, nil
			}
			stopped, ended := false, false
			stream := ""
			visit := func(i int, ts int64, msg string) bool {
				pos := base + uint64(i)
				if pos < r.startSeq {
					return true
				}
				if r.stopSeq > 0 && pos >= r.stopSeq {
					ended = true
					return false
				}
				if !fn(record{seq: pos, stream: stream, ts: ts, ingest: ingest, msg: msg}) {
					stopped = true
					return false
				}
				return true
			}
			switch m.Headers().Get(packHeader) {
			case packVersion2:
				var streams []packStream
				if streams, err = parseStreams(m.Headers().Get(streamsHeader)); err == nil {
					err = unpack2(m.Data(), len(streams), func(i, st int, ts int64, msg string) bool {
						stream = streams[st].name
						return visit(i, ts, msg)
					})
				}
			case packVersion1:
				if _, stream, err = s.subj.parse(m.Subject()); err == nil {
					err = unpack(m.Data(), visit)
				}
			default:
				if _, stream, err = s.subj.parse(m.Subject()); err == nil {
					visit(0, eventTime(m.Headers().Get(timeHeader), md.Timestamp), string(m.Data()))
				}
			}
			if err != nil {
				return false, fmt.Errorf("logs: message %d: %w", md.Sequence.Stream, err)
			}
			if stopped {
				return false, nil
			}
			if ended {
				return true, nil
			}
			if md.NumPending == 0 {
				return true, nil
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, context.DeadlineExceeded) {
			return false, fmt.Errorf("logs: read: %w", err)
		}
		if n == 0 {
			return true, nil
		}
	}
}
