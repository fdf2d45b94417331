package esm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ember-serverless/ember/internal/async"
	"github.com/ember-serverless/ember/internal/control"
	"github.com/ember-serverless/ember/internal/invoke"
	"github.com/ember-serverless/ember/internal/lambdaerr"
)

// Bucket is the KV bucket mappings are stored in, one key per UUID.
const Bucket = "event-source-mappings"

// Functions is what mappings need of the function registry.
type Functions interface {
	// Exists returns nil when the function (and qualifier, when not empty) exists, else a
	// ResourceNotFoundException.
	Exists(name, qualifier string) error
}

// Sender delivers failure records to OnFailure destinations (*async.Sender).
type Sender interface {
	Send(ctx context.Context, target, requestID string, body []byte, h nats.Header) error
}

var _ Sender = (*async.Sender)(nil)

// Defaults of the service's settings.
const (
	DefaultAckWait           = 30 * time.Second
	DefaultRetryBaseDelay    = time.Second
	DefaultThrottleBaseDelay = time.Second
	MaxRetryDelay            = 30 * time.Second
)

// Config is what a Service needs.
type Config struct {
	JetStream jetstream.JetStream
	Replicas  int
	// Invoker is the synchronous path (the frontend).
	Invoker   invoke.Invoker
	Functions Functions
	Sender    Sender
	ARNs      async.ARNs
	// Sources open the sources of kinds other than JetStream (Kafka, RabbitMQ).
	Sources map[Kind]SourceFactory
	// SecretsDir holds the secrets BASIC_AUTH SourceAccessConfigurations name (see SecretARN).
	SecretsDir string
	// AckWait is how long a JetStream record may go without a sign of life from its poller
	// before it is handed out again (after a crash, the time a restarted server waits for it).
	AckWait time.Duration
	// RetryBaseDelay is the wait before a failed batch's first retry; it doubles up to
	// MaxRetryDelay. ThrottleBaseDelay is the same for throttled batches.
	RetryBaseDelay, ThrottleBaseDelay time.Duration
	Logger                            *slog.Logger
	Now                               func() time.Time
}

// Validate reports what is missing and fills defaults.
func (c *Config) Validate() error {
	switch {
	case c.JetStream == nil:
		return errors.New("esm: a JetStream context is required")
	case c.Invoker == nil:
		return errors.New("esm: an invoker is required")
	case c.Functions == nil:
		return errors.New("esm: a function lookup is required")
	case c.Sender == nil:
		return errors.New("esm: a destination sender is required")
	case c.ARNs.Region == "" || c.ARNs.AccountID == "":
		return errors.New("esm: a region and an account are required")
	case c.AckWait < 0 || c.RetryBaseDelay < 0 || c.ThrottleBaseDelay < 0:
		return errors.New("esm: delays must not be negative")
	}
	if c.Replicas < 1 {
		c.Replicas = 1
	}
	if c.AckWait == 0 {
		c.AckWait = DefaultAckWait
	}
	if c.RetryBaseDelay == 0 {
		c.RetryBaseDelay = DefaultRetryBaseDelay
	}
	if c.ThrottleBaseDelay == 0 {
		c.ThrottleBaseDelay = DefaultThrottleBaseDelay
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Sources == nil {
		c.Sources = map[Kind]SourceFactory{}
	}
	return nil
}

// Service keeps event source mappings and runs their pollers.
type Service struct {
	cfg    Config
	logger *slog.Logger
	kv     jetstream.KeyValue
	names  control.Config

	// reconciling serializes reconcile, so that a mapping's changes settle in order.
	reconciling sync.Mutex
	mu          sync.Mutex
	mappings    map[string]*stored
	runners     map[string]*runner
	stopped     bool
	ctx         context.Context
	cancel      context.CancelFunc
	wg          sync.WaitGroup

	stats statsTable
}

type stored struct {
	m   *Mapping
	rev uint64
}

// New opens the mappings' bucket and loads it; Start begins polling.
func New(ctx context.Context, cfg Config) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	kv, err := cfg.JetStream.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: Bucket, History: 1,
		Storage: jetstream.FileStorage, Replicas: cfg.Replicas})
	if err != nil {
		return nil, fmt.Errorf("esm: bucket: %w", err)
	}
	s := &Service{cfg: cfg, logger: cfg.Logger, kv: kv, names: control.Config{Region: cfg.ARNs.Region, AccountID: cfg.ARNs.AccountID},
		mappings: map[string]*stored{}, runners: map[string]*runner{}}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	keys, err := kv.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("esm: listing mappings: %w", err)
	}
	for k := range keys.Keys() {
		e, err := kv.Get(ctx, k)
		if err != nil {
			if errors.Is(err, jetstream.ErrKeyNotFound) {
				continue
			}
			return nil, fmt.Errorf("esm: reading mapping %s: %w", k, err)
		}
		var m Mapping
		if err := json.Unmarshal(e.Value(), &m); err != nil {
			s.logger.Error("skipping a stored event source mapping", "uuid", k, "err", err)
			continue
		}
		s.mappings[k] = &stored{m: &m, rev: e.Revision()}
	}
	return s, nil
}

// Start settles every mapping's state and starts the pollers of enabled ones: mappings resume
// where their sources' consumers stopped.
func (s *Service) Start() {
	s.mu.Lock()
	ids := make([]string, 0, len(s.mappings))
	for id := range s.mappings {
		ids = append(ids, id)
	}
	s.mu.Unlock()
	for _, id := range ids {
		s.reconcile(id)
	}
}

// Close stops every poller; records in flight go back to their sources unacknowledged.
func (s *Service) Close() {
	s.mu.Lock()
	s.stopped = true
	runners := s.runners
	s.runners = map[string]*runner{}
	s.mu.Unlock()
	s.cancel()
	for _, r := range runners {
		r.stop()
	}
	s.wg.Wait()
}

func (s *Service) get(id string) (*stored, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.mappings[id]
	return st, ok
}

// put stores m, expecting the stored revision rev (0 for a new mapping).
func (s *Service) put(ctx context.Context, m *Mapping, rev uint64) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	var nrev uint64
	if rev == 0 {
		nrev, err = s.kv.Create(ctx, m.UUID, b)
	} else {
		nrev, err = s.kv.Update(ctx, m.UUID, b, rev)
	}
	if err != nil {
		return fmt.Errorf("esm: storing mapping %s: %w", m.UUID, err)
	}
	s.mu.Lock()
	s.mappings[m.UUID] = &stored{m: m, rev: nrev}
	s.mu.Unlock()
	return nil
}

func storeError(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := errors.AsType[*lambdaerr.Error](err); ok {
		return err
	}
	if errors.Is(err, jetstream.ErrKeyExists) {
		return lambdaerr.New(lambdaerr.ResourceConflict, "The event source mapping was changed at the same time; try again.")
	}
	return fmt.Errorf("%w: %w", lambdaerr.New(lambdaerr.ServiceException, "The event source mapping could not be stored."), err)
}

// resolveFunction parses a FunctionName (name, name:qualifier, partial or full ARN) and checks
// the function exists.
func (s *Service) resolveFunction(fn string) (name, qualifier string, err error) {
	name, qualifier, err = s.names.ParseFunctionName(fn, control.MaxFunctionNameLen)
	if err != nil {
		return "", "", err
	}
	if err := s.cfg.Functions.Exists(name, qualifier); err != nil {
		return "", "", err
	}
	return name, qualifier, nil
}

// Create answers CreateEventSourceMapping.
func (s *Service) Create(ctx context.Context, in *Input) (*Mapping, error) {
	if in.FunctionName == nil || *in.FunctionName == "" {
		return nil, lambdaerr.InvalidParameter("1 validation error detected: Value null at 'functionName' failed to satisfy constraint: Member must not be null")
	}
	if err := checkModel(in); err != nil {
		return nil, err
	}
	name, qualifier, err := s.resolveFunction(*in.FunctionName)
	if err != nil {
		return nil, err
	}
	m := &Mapping{UUID: uuid.NewString(), BatchSize: DefaultBatchSize, Enabled: true, Function: name, Qualifier: qualifier,
		FunctionArn: s.cfg.ARNs.FunctionARN(name, qualifier), State: StateCreating, StateTransitionReason: "USER_INITIATED",
		LastProcessingResult: "No records processed", LastModified: Time{Time: s.cfg.Now()}}
	arn := ""
	if in.EventSourceArn != nil {
		arn = *in.EventSourceArn
	}
	switch {
	case arn != "" && in.SelfManagedEventSource != nil:
		return nil, lambdaerr.InvalidParameter("Specify either EventSourceArn or SelfManagedEventSource, not both.")
	case in.SelfManagedEventSource != nil:
		if err := checkKafka(in); err != nil {
			return nil, err
		}
		sm := *in.SelfManagedEventSource
		m.SelfManagedEventSource = &sm
		m.Topics = in.Topics
		m.SelfManagedKafkaEventSourceConfig = in.SelfManagedKafkaEventSourceConfig
		if m.SelfManagedKafkaEventSourceConfig == nil || m.SelfManagedKafkaEventSourceConfig.ConsumerGroupId == "" {
			m.SelfManagedKafkaEventSourceConfig = &KafkaConfig{ConsumerGroupId: m.UUID}
		}
		m.MaximumBatchingWindowInSeconds = 0
	case arn == "":
		return nil, lambdaerr.InvalidParameter("Unrecognized event source, must be either a stream ARN or a SelfManagedEventSource.")
	case len(in.Queues) > 0:
		if _, err := ParseBrokerARN(arn, s.cfg.ARNs.Region, s.cfg.ARNs.AccountID); err != nil {
			return nil, err
		}
		if err := checkRabbit(in); err != nil {
			return nil, err
		}
		m.EventSourceArn = arn
		m.Queues = in.Queues
		m.SourceAccessConfigurations = in.SourceAccessConfigurations
		if err := s.checkRabbitAccess(m); err != nil {
			return nil, err
		}
	default:
		src, err := ParseStreamARN(arn, s.cfg.ARNs.Region, s.cfg.ARNs.AccountID)
		if err != nil {
			if _, berr := ParseBrokerARN(arn, s.cfg.ARNs.Region, s.cfg.ARNs.AccountID); berr == nil {
				return nil, lambdaerr.InvalidParameter("Queues is required for a RabbitMQ event source.")
			}
			return nil, err
		}
		if _, err := s.cfg.JetStream.Stream(ctx, src.Stream); err != nil {
			if errors.Is(err, jetstream.ErrStreamNotFound) {
				return nil, lambdaerr.InvalidParameter("Stream not found: %s", arn)
			}
			return nil, storeError(err)
		}
		if len(in.Topics) > 0 || len(in.Queues) > 0 {
			return nil, lambdaerr.InvalidParameter("Topics and Queues do not apply to a JetStream stream.")
		}
		m.EventSourceArn = arn
		m.ParallelizationFactor = ptr(1)
		m.MaximumRetryAttempts = ptr(-1)
		m.MaximumRecordAgeInSeconds = ptr(-1)
		m.BisectBatchOnFunctionError = ptr(false)
	}
	if in.StartingPosition != nil {
		m.StartingPosition = *in.StartingPosition
	}
	m.StartingPositionTimestamp = in.StartingPositionTimestamp
	apply(m, in)
	if err := s.checkForKind(m, true); err != nil {
		return nil, err
	}
	if !m.Enabled {
		m.State = StateCreating
	}
	s.mu.Lock()
	for _, o := range s.mappings {
		if o.m.State != StateDeleting && o.m.Function == m.Function && o.m.Qualifier == m.Qualifier && o.m.sourceKey() == m.sourceKey() {
			s.mu.Unlock()
			return nil, lambdaerr.New(lambdaerr.ResourceConflict, "An event source mapping with event source (%s) and function (%s) already exists. "+
				"Please update or delete the existing mapping with UUID %s", m.sourceKey(), m.Function, o.m.UUID)
		}
	}
	s.mu.Unlock()
	if err := s.put(ctx, m, 0); err != nil {
		return nil, storeError(err)
	}
	go s.reconcile(m.UUID)
	return m, nil
}

func ptr[T any](v T) *T { return &v }

// sourceKey names the mapping's source for the one-mapping-per-source-and-function rule.
func (m *Mapping) sourceKey() string {
	if m.SelfManagedEventSource != nil {
		b, _ := json.Marshal([]any{m.SelfManagedEventSource.Endpoints, m.Topics})
		return string(b)
	}
	if len(m.Queues) > 0 {
		return m.EventSourceArn + " " + fmt.Sprint(m.Queues)
	}
	return m.EventSourceArn
}

func (s *Service) notFound(id string) error {
	return lambdaerr.New(lambdaerr.ResourceNotFound, "The resource you requested does not exist. (Service: Lambda, Status Code: 404, Request ID: %s)", id)
}

// Get answers GetEventSourceMapping.
func (s *Service) Get(id string) (*Mapping, error) {
	st, ok := s.get(id)
	if !ok {
		return nil, s.notFound(id)
	}
	return s.withProgress(st.m), nil
}

// withProgress is a copy of m with the poller's last processing result.
func (s *Service) withProgress(m *Mapping) *Mapping {
	c := *m
	if r := s.stats.of(m.UUID).lastResult.Load(); r != nil {
		c.LastProcessingResult = *r
	}
	return &c
}

// Update answers UpdateEventSourceMapping.
func (s *Service) Update(ctx context.Context, id string, in *Input) (*Mapping, error) {
	if err := checkModel(in); err != nil {
		return nil, err
	}
	st, ok := s.get(id)
	if !ok {
		return nil, s.notFound(id)
	}
	switch st.m.State {
	case StateCreating, StateUpdating, StateDeleting, StateEnabling, StateDisabling:
		return nil, lambdaerr.New(lambdaerr.ResourceInUse, "Cannot update the event source mapping %s because it is in use (its state is %s); try again shortly.", id, st.m.State)
	}
	if in.StartingPosition != nil || in.StartingPositionTimestamp != nil || in.Topics != nil || in.Queues != nil || in.SelfManagedEventSource != nil || in.EventSourceArn != nil {
		return nil, lambdaerr.InvalidParameter("The event source and its starting position cannot be changed; create a new event source mapping.")
	}
	m := *st.m
	if in.FunctionName != nil {
		name, qualifier, err := s.resolveFunction(*in.FunctionName)
		if err != nil {
			return nil, err
		}
		m.Function, m.Qualifier, m.FunctionArn = name, qualifier, s.cfg.ARNs.FunctionARN(name, qualifier)
	}
	apply(&m, in)
	if err := s.checkForKind(&m, false); err != nil {
		return nil, err
	}
	switch {
	case m.Enabled && st.m.State == StateDisabled:
		m.State = StateEnabling
	case !m.Enabled && st.m.State == StateEnabled:
		m.State = StateDisabling
	default:
		m.State = StateUpdating
	}
	m.StateTransitionReason = "USER_INITIATED"
	m.LastModified = Time{Time: s.cfg.Now()}
	if err := s.put(ctx, &m, st.rev); err != nil {
		return nil, storeError(err)
	}
	go s.reconcile(id)
	return s.withProgress(&m), nil
}

// Delete answers DeleteEventSourceMapping: the mapping is marked Deleting and goes once its
// poller stopped.
func (s *Service) Delete(ctx context.Context, id string) (*Mapping, error) {
	st, ok := s.get(id)
	if !ok {
		return nil, s.notFound(id)
	}
	if st.m.State == StateDeleting {
		return s.withProgress(st.m), nil
	}
	m := *st.m
	m.State = StateDeleting
	m.StateTransitionReason = "USER_INITIATED"
	if err := s.put(ctx, &m, st.rev); err != nil {
		return nil, storeError(err)
	}
	go s.reconcile(id)
	return s.withProgress(&m), nil
}

// ForgetFunction deletes the mappings of a deleted function, as Lambda does.
func (s *Service) ForgetFunction(ctx context.Context, function string) {
	s.mu.Lock()
	var ids []string
	for id, st := range s.mappings {
		if st.m.Function == function {
			ids = append(ids, id)
		}
	}
	s.mu.Unlock()
	for _, id := range ids {
		if _, err := s.Delete(ctx, id); err != nil {
			s.logger.Warn("could not delete a deleted function's event source mapping", "uuid", id, "err", err)
		}
	}
}

// List answers ListEventSourceMappings: every mapping, or those of a function or a source, in
// UUID order, a page at a time.
func (s *Service) List(functionName, sourceArn, marker string, maxItems int) ([]*Mapping, string, error) {
	if maxItems == 0 {
		maxItems = DefaultListMaxItems
	}
	if maxItems < 1 || maxItems > MaxListItems {
		return nil, "", constraint(maxItems, "maxItems", "Member must have value between 1 and 10000")
	}
	var name, qualifier string
	if functionName != "" {
		var err error
		if name, qualifier, err = s.names.ParseFunctionName(functionName, control.MaxFunctionNameLen); err != nil {
			return nil, "", err
		}
	}
	s.mu.Lock()
	var all []*Mapping
	for _, st := range s.mappings {
		m := st.m
		if name != "" && (m.Function != name || (qualifier != "" && m.Qualifier != qualifier)) {
			continue
		}
		if sourceArn != "" && m.EventSourceArn != sourceArn {
			continue
		}
		all = append(all, m)
	}
	s.mu.Unlock()
	sort.Slice(all, func(i, j int) bool { return all[i].UUID < all[j].UUID })
	start := 0
	if marker != "" {
		n, err := strconv.Atoi(marker)
		if err != nil || n < 0 || n > len(all) {
			return nil, "", lambdaerr.InvalidParameter("Invalid marker: %s", marker)
		}
		start = n
	}
	end := min(start+maxItems, len(all))
	out := make([]*Mapping, 0, end-start)
	for _, m := range all[start:end] {
		out = append(out, s.withProgress(m))
	}
	next := ""
	if end < len(all) {
		next = strconv.Itoa(end)
	}
	return out, next, nil
}

// reconcile brings a mapping's poller in line with its stored record, and settles its state:
// Creating, Enabling and Updating become Enabled (or Disabled), Disabling becomes Disabled,
// Deleting removes the record once the poller stopped.
func (s *Service) reconcile(id string) {
	s.reconciling.Lock()
	defer s.reconciling.Unlock()
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return
	}
	st, ok := s.mappings[id]
	old := s.runners[id]
	delete(s.runners, id)
	s.mu.Unlock()
	if !ok {
		return
	}
	if old != nil {
		old.stop()
	}
	m := *st.m
	switch {
	case m.State == StateDeleting:
		if err := s.kv.Delete(s.ctx, id, jetstream.LastRevision(st.rev)); err != nil {
			s.logger.Warn("could not delete an event source mapping; it is deleted at the next start", "uuid", id, "err", err)
			return
		}
		s.mu.Lock()
		if cur := s.mappings[id]; cur == st {
			delete(s.mappings, id)
		}
		s.mu.Unlock()
		if m.Kind() == KindJetStream {
			s.deleteConsumer(&m)
		}
		s.stats.forget(id)
		return
	case m.Enabled:
		m.State = StateEnabled
	default:
		m.State = StateDisabled
	}
	if m.State != st.m.State {
		if err := s.put(s.ctx, &m, st.rev); err != nil {
			// Changed meanwhile: the change's own reconcile settles it.
			s.logger.Debug("a mapping changed while it was settled", "uuid", id, "err", err)
			return
		}
	}
	if m.State != StateEnabled {
		return
	}
	r := s.newRunner(&m)
	s.mu.Lock()
	if s.stopped || s.mappings[id] == nil || s.mappings[id].m.UUID != m.UUID || s.runners[id] != nil {
		s.mu.Unlock()
		r.stop()
		return
	}
	s.runners[id] = r
	s.mu.Unlock()
}
