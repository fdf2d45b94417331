package logs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go/jetstream"
)

// timeHeader carries an event's own timestamp, in milliseconds since the epoch; the stream's
// stored time of the message is the event's ingestion time.
const timeHeader = "Ember-Log-Time"

// Store keeps log events in a JetStream stream and answers CloudWatch Logs queries over them.
//
// Write never blocks on I/O: it appends the event to a bounded in-memory buffer that a
// background goroutine publishes in batches (asynchronous publishes, then the batch's acks).
// When the events accepted and not yet stored reach StoreConfig.BufferEvents (or their
// messages BufferBytes bytes), a further event is dropped and counted in Stats().Dropped rather than making the caller wait. Events
// whose publish still fails after retries are counted in Stats().Failed. Flush waits until
// everything written so far is stored; Close flushes and stops the goroutine.
type Store struct {
	cfg    StoreConfig
	js     jetstream.JetStream
	stream jetstream.Stream
	groups jetstream.KeyValue
	subj   subjects
	logger *slog.Logger

	mu           sync.Mutex
	wake         *sync.Cond    // signalled when buf gains events or closing is set
	buf          []Event       // accepted events the publisher has not taken yet
	spare        []Event       // the publisher's last taken slice, emptied, for reuse as buf
	pendingBytes int           // message bytes accepted and not yet processed
	accepted     uint64        // events ever accepted
	processed    uint64        // accepted events stored or given up on
	progress     chan struct{} // closed (and replaced) whenever processed grows
	closing      bool

	dropped   atomic.Uint64
	invalid   atomic.Uint64
	stored    atomic.Uint64
	failed    atomic.Uint64
	truncated atomic.Uint64

	runCtx context.Context
	stop   context.CancelFunc
	done   chan struct{}

	idx index
}

var _ Writer = (*Store)(nil)

// NewStore opens the log stream (creating it, or updating its limits to cfg's, as needed)
// and the group bucket, and starts the goroutine that stores written events.
func NewStore(ctx context.Context, js jetstream.JetStream, cfg StoreConfig, logger *slog.Logger) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	stream, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        cfg.Stream,
		Description: "Ember function logs",
		Subjects:    []string{cfg.SubjectPrefix + ".>"},
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Replicas,
		MaxAge:      cfg.MaxAge,
		MaxBytes:    cfg.MaxBytes,
		MaxMsgSize:  int32(min(cfg.MaxEventBytes+4096, 1<<30)),
		AllowDirect: true,
		Compression: jetstream.S2Compression,
	})
	if err != nil {
		return nil, fmt.Errorf("logs: stream %s: %w", cfg.Stream, err)
	}
	groups, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      cfg.GroupBucket,
		Description: "Ember log groups",
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("logs: bucket %s: %w", cfg.GroupBucket, err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	s := &Store{
		cfg:      cfg,
		js:       js,
		stream:   stream,
		groups:   groups,
		subj:     subjects{prefix: cfg.SubjectPrefix},
		logger:   logger,
		progress: make(chan struct{}),
		runCtx:   runCtx,
		stop:     stop,
		done:     make(chan struct{}),
		idx:      index{groups: map[string]*groupMeta{}},
	}
	s.wake = sync.NewCond(&s.mu)
	go s.run()
	return s, nil
}

// Stats are the store's counters since it was opened.
type Stats struct {
	// Accepted events were taken into the buffer by Write.
	Accepted uint64
	// Stored events were acknowledged by JetStream.
	Stored uint64
	// Dropped events were refused by Write because the buffer was full or the store closed.
	Dropped uint64
	// Invalid events were refused by Write for an empty or over-long group or stream name.
	Invalid uint64
	// Failed events were accepted but could not be published after retries.
	Failed uint64
	// Truncated events had their message cut to StoreConfig.MaxEventBytes.
	Truncated uint64
	// Buffered events are accepted and not yet stored (nor given up on).
	Buffered uint64
}

// Stats returns the store's counters.
func (s *Store) Stats() Stats {
	s.mu.Lock()
	accepted, buffered := s.accepted, s.accepted-s.processed
	s.mu.Unlock()
	return Stats{
		Accepted:  accepted,
		Stored:    s.stored.Load(),
		Dropped:   s.dropped.Load(),
		Invalid:   s.invalid.Load(),
		Failed:    s.failed.Load(),
		Truncated: s.truncated.Load(),
		Buffered:  buffered,
	}
}

// Write queues evs to be stored, next to each other, and returns at once; see Store for what
// happens when the buffer is full. A zero Time means now.
func (s *Store) Write(evs ...Event) {
	var now time.Time
	var kept, dropped, invalid, truncated uint64
	s.mu.Lock()
	for _, ev := range evs {
		if ev.Group == "" || len(ev.Group) > 512 || ev.Stream == "" || len(ev.Stream) > 512 {
			invalid++
			continue
		}
		if len(ev.Message) > s.cfg.MaxEventBytes {
			cut := s.cfg.MaxEventBytes
			for cut > 0 && !utf8.RuneStart(ev.Message[cut]) {
				cut--
			}
			ev.Message = ev.Message[:cut]
			truncated++
		}
		if ev.Time.IsZero() {
			if now.IsZero() {
				now = time.Now()
			}
			ev.Time = now
		}
		if s.closing || s.accepted-s.processed >= uint64(s.cfg.BufferEvents) || s.pendingBytes+len(ev.Message) > s.cfg.BufferBytes {
			dropped++
			continue
		}
		s.buf = append(s.buf, ev)
		s.pendingBytes += len(ev.Message)
		s.accepted++
		kept++
	}
	s.mu.Unlock()
	if dropped+invalid+truncated > 0 {
		s.dropped.Add(dropped)
		s.invalid.Add(invalid)
		s.truncated.Add(truncated)
	}
	if kept > 0 {
		s.wake.Signal()
	}
}

// Flush waits until every event Write accepted before the call is stored (or given up on
// after retries), or ctx ends.
func (s *Store) Flush(ctx context.Context) error {
	s.mu.Lock()
	target := s.accepted
	for s.processed < target {
		ch := s.progress
		s.mu.Unlock()
		select {
		case <-ch:
		case <-s.done:
			s.mu.Lock()
			if s.processed < target {
				s.mu.Unlock()
				return errors.New("logs: store stopped before flushing")
			}
			s.mu.Unlock()
			return nil
		case <-ctx.Done():
			return fmt.Errorf("logs: flush: %w", ctx.Err())
		}
		s.mu.Lock()
	}
	s.mu.Unlock()
	return nil
}

// Close stops accepting events, stores those already accepted, and stops the background
// goroutine. If ctx ends first, publishing is abandoned and the remaining events are counted
// as failed.
func (s *Store) Close(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	s.wake.Broadcast()
	select {
	case <-s.done:
		s.stop()
		return nil
	case <-ctx.Done():
		s.stop()
		<-s.done
		return fmt.Errorf("logs: close: %w", ctx.Err())
	}
}

// run takes the whole buffer at a time (swapping in an empty slice, so Write never waits on
// more than that swap) and publishes it in batches of MaxBatch, until the store closes and
// the buffer is empty.
func (s *Store) run() {
	defer close(s.done)
	for {
		s.mu.Lock()
		for len(s.buf) == 0 && !s.closing {
			s.wake.Wait()
		}
		if len(s.buf) == 0 {
			s.mu.Unlock()
			return
		}
		if !s.closing && len(s.buf) < s.cfg.MaxBatch && s.cfg.Linger > 0 {
			// Let a batch gather: one invoke writes several lines in a row, and a pack of
			// them costs about what one of them alone would.
			s.mu.Unlock()
			time.Sleep(s.cfg.Linger)
			s.mu.Lock()
		}
		taken := s.buf
		s.buf, s.spare = s.spare[:0], nil
		s.mu.Unlock()

		for start := 0; start < len(taken); start += s.cfg.MaxBatch {
			batch := taken[start:min(start+s.cfg.MaxBatch, len(taken))]
			s.storeBatch(batch)
			bytes := 0
			for _, ev := range batch {
				bytes += len(ev.Message)
			}
			s.mu.Lock()
			s.processed += uint64(len(batch))
			s.pendingBytes -= bytes
			close(s.progress)
			s.progress = make(chan struct{})
			s.mu.Unlock()
		}
		clear(taken)
		s.mu.Lock()
		s.spare = taken[:0]
		s.mu.Unlock()
	}
}

const publishAttempts = 4

// storeBatch publishes a batch asynchronously, waits for the acks, and retries what failed.
func (s *Store) storeBatch(batch []Event) {
	pending := batch
	var lastErr error
	var newGroups []string
	for attempt := 0; attempt < publishAttempts && len(pending) > 0; attempt++ {
		if attempt > 0 {
			select {
			case <-time.After(time.Duration(attempt) * 100 * time.Millisecond):
			case <-s.runCtx.Done():
			}
			if s.runCtx.Err() != nil {
				break
			}
		}
		// Pack each run of consecutive events of one log stream, so that the stored order of
		// events across streams is the order they were written in, and publish each pack.
		var packs []*packer
		var p *packer
		for _, ev := range pending {
			subject := s.subj.event(ev.Group, ev.Stream)
			if p == nil || p.subject != subject || !p.fits(ev, s.cfg.MaxEventBytes) {
				p = &packer{subject: subject}
				packs = append(packs, p)
			}
			p.add(ev)
		}
		type inflight struct {
			p   *packer
			ack jetstream.PubAckFuture
		}
		var retry []Event
		sent := make([]inflight, 0, len(packs))
		for _, p := range packs {
			f, err := s.js.PublishMsgAsync(p.msg())
			if err != nil {
				lastErr = err
				retry = append(retry, p.events...)
				continue
			}
			sent = append(sent, inflight{p: p, ack: f})
		}
		for _, x := range sent {
			select {
			case <-x.ack.Ok():
				s.stored.Add(uint64(len(x.p.events)))
				now := time.Now().UnixMilli()
				for _, ev := range x.p.events {
					if s.idx.noteStored(ev.Group, ev.Stream, x.p.subject, ev.Time.UnixMilli(), now, int64(len(ev.Message))) {
						newGroups = append(newGroups, ev.Group)
					}
				}
			case err := <-x.ack.Err():
				lastErr = err
				retry = append(retry, x.p.events...)
			case <-s.runCtx.Done():
				lastErr = s.runCtx.Err()
				retry = append(retry, x.p.events...)
			}
		}
		pending = retry
	}
	if len(pending) > 0 {
		s.failed.Add(uint64(len(pending)))
		s.logger.Warn("log events not stored", "events", len(pending), "error", lastErr)
	}
	for _, g := range newGroups {
		s.recordGroup(g)
	}
}

// recordGroup makes sure the group bucket has g, so the group outlives its events.
func (s *Store) recordGroup(g string) {
	ctx, cancel := context.WithTimeout(s.runCtx, 10*time.Second)
	defer cancel()
	created, err := s.putGroup(ctx, g, time.Now().UnixMilli())
	if err != nil && !errors.Is(err, ErrGroupExists) {
		s.logger.Warn("log group not recorded", "group", g, "error", err)
		s.idx.forgetRecorded(g)
		return
	}
	s.idx.setCreation(g, created)
}
