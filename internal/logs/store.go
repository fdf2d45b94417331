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

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// timeHeader carries an event's own timestamp, in milliseconds since the epoch; the stream's
// stored time of the message is the event's ingestion time.
const timeHeader = "Ember-Log-Time"

// Store keeps log events in a JetStream stream and answers CloudWatch Logs queries over them.
//
// Write never waits on JetStream: it appends the event to a bounded in-memory buffer that a
// background goroutine publishes in batches (asynchronous publishes, then the batch's acks).
// When the events in memory reach StoreConfig.BufferEvents (or their messages BufferBytes
// bytes), further events go to the spill file in StoreConfig.SpillDir until the publisher has
// caught up with it (see spill.go), so a store that lags costs each writer a disk append, not
// its events and not a wait on another writer's logs. Without a spill directory, or with the
// spill full, Write waits for room instead: the writer's output is held back, as a function's
// stdout blocks on Lambda when its log agent lags. Nothing is dropped while the store is
// open; a publish that fails for want of a store is retried until it succeeds or the store
// is closed. Flush waits until everything written so far is stored; Close flushes and stops
// the goroutine.
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
	pendingBytes int           // message bytes in memory and not yet processed
	memEvents    int           // events in memory and not yet processed
	spill        *spill        // nil without StoreConfig.SpillDir
	spilling     bool          // Write appends to the spill until it is drained
	accepted     uint64        // events ever accepted
	processed    uint64        // accepted events stored or given up on
	progress     chan struct{} // closed (and replaced) whenever processed grows
	closing      bool

	dropped   atomic.Uint64
	invalid   atomic.Uint64
	stored    atomic.Uint64
	failed    atomic.Uint64
	truncated atomic.Uint64
	spilled   atomic.Uint64

	runCtx context.Context
	stop   context.CancelFunc
	done   chan struct{}
	bg     sync.WaitGroup // the start-up index build

	recordedMu sync.Mutex
	recorded   map[string]bool // groups whose events this store stored, put in the group bucket

	idx index
}

// packRoom is what a pack may take beyond StoreConfig.MaxEventBytes for its headers and
// framing; one event always fits, whatever its stream's name.
const packRoom = 2048

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
		MaxMsgSize:  int32(min(cfg.MaxEventBytes+packRoom+4096, 1<<30)),
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
	var sp *spill
	var replay uint64
	if cfg.SpillDir != "" {
		if sp, replay, err = openSpill(cfg.SpillDir); err != nil {
			return nil, err
		}
		if replay > 0 {
			logger.Info("storing log events spilled before a restart", "events", replay)
		}
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
		recorded: map[string]bool{},
		spill:    sp,
		spilling: sp.pending(),
		accepted: replay,
	}
	s.wake = sync.NewCond(&s.mu)
	go s.run()
	// Build the index now rather than on the first query: it reads every stored message's
	// headers (20 to 35 µs a message here, so 1M events take 0.6 s packed 64 to a message
	// and 5 to 6 s packed 4 to a message; see BenchmarkIndexRebuild).
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		began := time.Now()
		if err := s.refresh(runCtx); err != nil {
			if runCtx.Err() == nil {
				logger.Warn("log index not built; queries will try again", "error", err)
			}
			return
		}
		if took := time.Since(began); took > time.Second {
			logger.Info("log index built", "took", took.Round(time.Millisecond))
		}
	}()
	return s, nil
}

// Stats are the store's counters since it was opened.
type Stats struct {
	// Accepted events were taken into the buffer by Write.
	Accepted uint64
	// Stored events were acknowledged by JetStream.
	Stored uint64
	// Dropped events were refused by Write because the store was closed.
	Dropped uint64
	// Spilled events went through the spill file because the memory buffer was full.
	Spilled uint64
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
		Spilled:   s.spilled.Load(),
		Invalid:   s.invalid.Load(),
		Failed:    s.failed.Load(),
		Truncated: s.truncated.Load(),
		Buffered:  buffered,
	}
}

// Write queues evs to be stored, next to each other, and returns without waiting on
// JetStream; see Store for what happens when the buffer is full. A zero Time means now.
func (s *Store) Write(evs ...Event) {
	var now time.Time
	var kept, dropped, invalid, truncated, spilled uint64
	var disk []byte // records of this call for the spill, written before Write returns or waits
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
		for {
			if s.closing {
				dropped++
				break
			}
			if !s.spilling && (s.memEvents == 0 || s.memEvents < s.cfg.BufferEvents && s.pendingBytes+len(ev.Message) <= s.cfg.BufferBytes) {
				s.buf = append(s.buf, ev)
				s.pendingBytes += len(ev.Message)
				s.memEvents++
				s.accepted++
				kept++
				break
			}
			if s.spill != nil && !s.spill.broken && s.spill.w+int64(len(disk)) < s.cfg.SpillBytes {
				s.spilling = true
				disk = appendRecord(disk, ev)
				s.accepted++
				spilled++
				break
			}
			// No room: write what this call spilled so far, so that it stays ahead of this
			// event, and wait for the publisher to make room.
			s.spillLocked(&disk)
			ch := s.progress
			s.mu.Unlock()
			s.wake.Signal()
			select {
			case <-ch:
			case <-s.done:
			}
			s.mu.Lock()
		}
	}
	s.spillLocked(&disk)
	s.mu.Unlock()
	if dropped+invalid+truncated+spilled > 0 {
		s.dropped.Add(dropped)
		s.invalid.Add(invalid)
		s.truncated.Add(truncated)
		s.spilled.Add(spilled)
	}
	if kept+spilled > 0 {
		s.wake.Signal()
	}
}

// spillLocked appends the records in *disk to the spill file and empties *disk. If the
// write fails the store spills no more, and those events are counted as failed.
func (s *Store) spillLocked(disk *[]byte) {
	if len(*disk) == 0 {
		return
	}
	if err := s.spill.append(*disk); err != nil {
		s.spill.broken = true
		n := uint64(0)
		for rest := *disk; len(rest) > 0; n++ {
			_, size, derr := decodeRecord(rest)
			if derr != nil {
				break
			}
			rest = rest[size:]
		}
		s.processed += n
		s.failed.Add(n)
		s.logger.Error("log events lost: the spill file cannot be written; writers now wait for the store instead", "events", n, "error", err)
	}
	*disk = (*disk)[:0]
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
		s.bg.Wait()
		return s.spill.close()
	case <-ctx.Done():
		s.stop()
		<-s.done
		s.bg.Wait()
		_ = s.spill.close()
		return fmt.Errorf("logs: close: %w", ctx.Err())
	}
}

// run takes the whole buffer at a time (swapping in an empty slice, so Write never waits on
// more than that swap) and publishes it in batches of MaxBatch; with the buffer empty, it
// stores what was spilled. It returns once the store is closing with nothing left, or its
// context ended.
func (s *Store) run() {
	defer close(s.done)
	for {
		s.mu.Lock()
		for len(s.buf) == 0 && !s.spill.pending() && !s.closing {
			s.wake.Wait()
		}
		if len(s.buf) == 0 && !s.spill.pending() {
			s.mu.Unlock()
			return
		}
		if len(s.buf) == 0 {
			r, w := s.spill.r, s.spill.w
			s.mu.Unlock()
			if !s.replaySpill(r, w) {
				return
			}
			continue
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
			s.storeBatch(batch, false)
			bytes := 0
			for _, ev := range batch {
				bytes += len(ev.Message)
			}
			s.mu.Lock()
			s.processed += uint64(len(batch))
			s.memEvents -= len(batch)
			s.pendingBytes -= bytes
			s.progressLocked()
			s.mu.Unlock()
		}
		clear(taken)
		s.mu.Lock()
		s.spare = taken[:0]
		s.mu.Unlock()
	}
}

// progressLocked wakes those waiting for the publisher.
func (s *Store) progressLocked() {
	close(s.progress)
	s.progress = make(chan struct{})
}

// replaySpill stores a batch of spilled events from [r, w) and moves the spill past them,
// emptying it once all is stored. It reports false when the store's context ended first:
// what was not stored stays in the spill for the next Store.
func (s *Store) replaySpill(r, w int64) bool {
	evs, used, err := s.spill.read(r, w, s.cfg.MaxBatch, s.cfg.MaxEventBytes+2048)
	if err != nil {
		// The file is damaged past r: what it holds there cannot be stored.
		s.logger.Error("log events lost: the spill file cannot be read", "error", err)
		s.mu.Lock()
		lost := s.accepted - s.processed - uint64(s.memEvents)
		s.processed += lost
		s.failed.Add(lost)
		if rerr := s.spill.reset(); rerr != nil {
			s.spill.broken = true
		}
		s.spilling = false
		s.progressLocked()
		s.mu.Unlock()
		return true
	}
	if !s.storeBatch(evs, true) {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.spill.r = r + used
	s.processed += uint64(len(evs))
	if s.spill.r == s.spill.w {
		if err := s.spill.reset(); err != nil {
			s.spill.broken = true
			s.logger.Error("the log spill file cannot be emptied; writers now wait for the store instead", "error", err)
		}
		s.spilling = false
	}
	s.progressLocked()
	return true
}

// publishAttempts is how often a publish is tried that failed other than for want of a
// store (one that is refused, say); a store that does not answer is waited for.
const publishAttempts = 4

// unavailable reports whether a publish failed for want of a store that answers, which is
// worth waiting for however long it takes.
func unavailable(err error) bool {
	for _, e := range []error{nats.ErrTimeout, nats.ErrNoResponders, nats.ErrConnectionClosed, nats.ErrConnectionReconnecting,
		jetstream.ErrNoStreamResponse, jetstream.ErrTooManyStalledMsgs, jetstream.ErrAsyncPublishTimeout, context.DeadlineExceeded} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// storeBatch publishes a batch asynchronously, waits for the acks, and retries what failed:
// without end while the store is unavailable, publishAttempts times otherwise. It reports
// false if the store's context ended first; then, when keep is set, what was not stored is
// not counted as failed, since the caller keeps it.
func (s *Store) storeBatch(batch []Event, keep bool) bool {
	pending := batch
	var lastErr error
	var newGroups []string
	for attempt := 0; len(pending) > 0; attempt++ {
		if attempt > 0 {
			if attempt >= publishAttempts && !unavailable(lastErr) {
				break
			}
			if attempt%20 == 0 {
				s.logger.Warn("log store unavailable; holding log events until it answers", "events", len(pending), "error", lastErr)
			}
			select {
			case <-time.After(min(time.Duration(attempt)*100*time.Millisecond, 2*time.Second)):
			case <-s.runCtx.Done():
			}
			if s.runCtx.Err() != nil {
				break
			}
		}
		// Pack the events of each group together, in the order they were written, and
		// publish each pack.
		var packs []*packer
		open := map[string]*packer{}
		for _, ev := range pending {
			p := open[ev.Group]
			if p == nil || !p.fits(ev, s.cfg.MaxEventBytes+packRoom) {
				p = &packer{subject: s.subj.group(ev.Group)}
				open[ev.Group] = p
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
				if g := x.p.events[0].Group; s.noteGroup(g) {
					newGroups = append(newGroups, g)
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
	interrupted := len(pending) > 0 && s.runCtx.Err() != nil
	if len(pending) > 0 && !(keep && interrupted) {
		s.failed.Add(uint64(len(pending)))
		s.logger.Warn("log events not stored", "events", len(pending), "error", lastErr)
	}
	for _, g := range newGroups {
		s.recordGroup(g)
	}
	return !interrupted
}

// noteGroup reports whether events of group g were stored for the first time since the
// store opened (or the group was deleted), and from now on counts it as recorded: the caller
// puts it in the group bucket.
func (s *Store) noteGroup(g string) bool {
	s.recordedMu.Lock()
	defer s.recordedMu.Unlock()
	if s.recorded[g] {
		return false
	}
	s.recorded[g] = true
	return true
}

// forgetGroup makes the next event of group g record it again.
func (s *Store) forgetGroup(g string) {
	s.recordedMu.Lock()
	delete(s.recorded, g)
	s.recordedMu.Unlock()
}

// recordGroup makes sure the group bucket has g, so the group outlives its events.
func (s *Store) recordGroup(g string) {
	ctx, cancel := context.WithTimeout(s.runCtx, 10*time.Second)
	defer cancel()
	if _, err := s.putGroup(ctx, g, time.Now().UnixMilli()); err != nil && !errors.Is(err, ErrGroupExists) {
		s.logger.Warn("log group not recorded", "group", g, "error", err)
		s.forgetGroup(g)
	}
}
