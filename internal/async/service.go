package async

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ember-serverless/ember/internal/invoke"
	"github.com/ember-serverless/ember/internal/lambdaerr"
)

// Functions finds the function an invoke names, at intake.
type Functions interface {
	// Function returns the function's name as stored (the bare name), or a
	// ResourceNotFoundException for a function or qualifier that does not exist.
	Function(nameOrARN, qualifier string) (string, error)
	// DeadLetterTarget is the TargetArn of the function's DeadLetterConfig, or "".
	DeadLetterTarget(function string) string
}

// Defaults of the service's settings.
const (
	DefaultRetryBaseDelay     = time.Minute
	DefaultThrottleBaseDelay  = time.Second
	MaxThrottleDelay          = 5 * time.Minute
	DefaultAckWait            = 30 * time.Second
	DefaultPollersPerFunction = 8
	DefaultPollWait           = 2 * time.Second
)

// Config is what a Service needs.
type Config struct {
	JetStream jetstream.JetStream
	// Replicas is the replica count of the queue stream and buckets.
	Replicas int
	// Invoker is the synchronous path (the frontend), so that concurrency limits, sandbox
	// reuse, logs and metrics apply to queued events as to direct invokes.
	Invoker   invoke.Invoker
	Functions Functions
	ARNs      ARNs
	// RetryBaseDelay is the wait before a function error's first retry; the second waits
	// twice as long (Lambda: about one, then two minutes).
	RetryBaseDelay time.Duration
	// ThrottleBaseDelay is the first wait before a throttled or system-failed event runs again;
	// it doubles with every delivery up to MaxThrottleDelay.
	ThrottleBaseDelay time.Duration
	// AckWait is how long an event may go without a sign of life from its poller before
	// JetStream hands it to another (after a crash, the time a restarted server waits for it).
	AckWait time.Duration
	// PollersPerFunction bounds how many of one function's events run at once.
	PollersPerFunction int
	// PollWait is how long an idle poller waits for events before asking again.
	PollWait time.Duration
	Logger   *slog.Logger
	// Now is the clock, for tests.
	Now func() time.Time
}

// Validate reports what is missing or wrong, and fills defaults.
func (c *Config) Validate() error {
	switch {
	case c.JetStream == nil:
		return errors.New("async: a JetStream context is required")
	case c.Invoker == nil:
		return errors.New("async: an invoker is required")
	case c.Functions == nil:
		return errors.New("async: a function lookup is required")
	case c.ARNs.Region == "" || c.ARNs.AccountID == "":
		return errors.New("async: a region and an account are required")
	case c.RetryBaseDelay < 0 || c.ThrottleBaseDelay < 0 || c.AckWait < 0 || c.PollersPerFunction < 0 || c.PollWait < 0:
		return fmt.Errorf("async: delays and counts must not be negative")
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.RetryBaseDelay == 0 {
		c.RetryBaseDelay = DefaultRetryBaseDelay
	}
	if c.ThrottleBaseDelay == 0 {
		c.ThrottleBaseDelay = DefaultThrottleBaseDelay
	}
	if c.AckWait == 0 {
		c.AckWait = DefaultAckWait
	}
	if c.PollersPerFunction == 0 {
		c.PollersPerFunction = DefaultPollersPerFunction
	}
	if c.PollWait == 0 {
		c.PollWait = DefaultPollWait
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return nil
}

// Service is the asynchronous invocation path: intake, queue, pollers and deliveries.
type Service struct {
	cfg     Config
	logger  *slog.Logger
	queue   *queue
	configs *ConfigStore
	runs    jetstream.KeyValue
	sender  *Sender

	draining atomic.Bool
	// fetchCtx stops the pollers asking for more events; runCtx, cancelled last, abandons
	// the events still running (they go back to the queue).
	fetchCtx, runCtx       context.Context
	stopFetch, stopRunning context.CancelFunc
	mu                     sync.Mutex
	pollers                map[string]bool
	fetching, running      sync.WaitGroup

	stats statsTable
}

// RunsBucket remembers which attempts of which events were started, to count duplicates.
const RunsBucket = "async-runs"

// New opens the queue and the configuration store; Start begins polling.
func New(ctx context.Context, cfg Config) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	q, err := openQueue(ctx, cfg.JetStream, cfg.Replicas)
	if err != nil {
		return nil, err
	}
	configs, err := OpenConfigStore(ctx, cfg.JetStream, cfg.Replicas, cfg.ARNs, cfg.Logger)
	if err != nil {
		return nil, err
	}
	runs, err := cfg.JetStream.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: RunsBucket, History: 1,
		Storage: jetstream.FileStorage, Replicas: cfg.Replicas, TTL: DefaultMaximumEventAge + time.Hour})
	if err != nil {
		configs.Close()
		return nil, fmt.Errorf("async: runs bucket: %w", err)
	}
	s := &Service{cfg: cfg, logger: cfg.Logger, queue: q, configs: configs, runs: runs, pollers: map[string]bool{}}
	s.sender = &Sender{js: cfg.JetStream, arns: cfg.ARNs, enqueue: s.enqueueEvent, now: cfg.Now}
	s.fetchCtx, s.stopFetch = context.WithCancel(context.Background())
	s.runCtx, s.stopRunning = context.WithCancel(context.Background())
	return s, nil
}

// Configs is the event-invoke configuration store.
func (s *Service) Configs() *ConfigStore { return s.configs }

// Sender delivers records and dead letters to their targets.
func (s *Service) Sender() *Sender { return s.sender }

// Start starts a poller for every function with queued events.
func (s *Service) Start(ctx context.Context) error {
	info, err := s.queue.stream.Info(ctx, jetstream.WithSubjectFilter(SubjectPrefix+">"))
	if err != nil {
		return fmt.Errorf("async: reading the queue: %w", err)
	}
	for subj := range info.State.Subjects {
		s.ensurePoller(strings.TrimPrefix(subj, SubjectPrefix))
	}
	return nil
}

// Enqueue accepts an Event invocation: it checks the function exists and the payload's size,
// and returns once the event is stored durably. Errors are *lambdaerr.Error values.
func (s *Service) Enqueue(ctx context.Context, req *invoke.Request) (*invoke.Response, error) {
	if s.draining.Load() {
		return nil, errDraining
	}
	if len(req.Payload) > MaxEventPayload {
		return nil, lambdaerr.New(lambdaerr.RequestTooLarge, "Request must be smaller than %d bytes for the InvokeFunction operation", MaxEventPayload)
	}
	name, err := s.cfg.Functions.Function(req.Function, req.Qualifier)
	if err != nil {
		return nil, err
	}
	id := req.RequestID
	if id == "" {
		id = uuid.NewString()
	}
	e := &Event{RequestID: id, Function: name, Qualifier: req.Qualifier, Payload: req.Payload, Received: s.cfg.Now()}
	if err := s.enqueueEvent(ctx, e); err != nil {
		s.logger.Error("could not queue an event", "function", name, "request_id", id, "err", err)
		return nil, lambdaerr.New(lambdaerr.ServiceException, "The event could not be stored; it was not accepted.")
	}
	s.stats.of(name).received.Add(1)
	return &invoke.Response{StatusCode: 202, RequestID: id}, nil
}

func (s *Service) enqueueEvent(ctx context.Context, e *Event) error {
	if err := s.queue.put(ctx, e); err != nil {
		return err
	}
	s.ensurePoller(e.Function)
	return nil
}

// ensurePoller starts the function's poller unless it runs.
func (s *Service) ensurePoller(function string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pollers[function] || s.fetchCtx.Err() != nil {
		return
	}
	s.pollers[function] = true
	s.fetching.Add(1)
	go s.poll(function)
}

// Drain refuses new events, stops taking queued ones, and waits until the events running
// finish or ctx ends; those still running then are abandoned and go back to the queue.
func (s *Service) Drain(ctx context.Context) error {
	s.draining.Store(true)
	s.stopFetch()
	s.fetching.Wait()
	done := make(chan struct{})
	go func() { s.running.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("async: events still running at the drain's deadline go back to the queue: %w", ctx.Err())
		s.stopRunning()
		<-done
	}
	s.stopRunning()
	return err
}

// Close drains without waiting and stops the configuration watch.
func (s *Service) Close() {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = s.Drain(ctx)
	s.configs.Close()
}

// ForgetFunction drops a deleted function's configurations. Its queued events are dropped when
// they come up (ResourceNotFoundException), as Lambda's.
func (s *Service) ForgetFunction(ctx context.Context, function string) error {
	return s.configs.DeleteFunction(ctx, function)
}

// ForgetQualifier drops the configuration of a deleted version or alias of a function, if it
// has one.
func (s *Service) ForgetQualifier(ctx context.Context, function, qualifier string) error {
	if s.configs.Lookup(function, qualifier) == nil {
		return nil
	}
	return s.configs.Delete(ctx, function, qualifier)
}
