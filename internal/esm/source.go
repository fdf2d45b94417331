package esm

import (
	"context"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Record is one message of a source as a mapping's processing sees it.
type Record struct {
	// ID identifies the record in a function's batchItemFailures (itemIdentifier): a sequence
	// number, an offset or a message ID.
	ID string
	// Arrived is when the source took the record in (MaximumRecordAgeInSeconds, iterator age).
	Arrived time.Time
	// Doc is what FilterCriteria are matched against: the record's metadata with its data
	// decoded as JSON when it is JSON.
	Doc map[string]any
	// Size is about how many bytes the record adds to an event.
	Size int
	// Handle is the source's own handle of the record.
	Handle any
}

// Source is where a mapping's records come from: a JetStream stream, a Kafka topic, a RabbitMQ
// queue. Records are handed out in lanes: a lane's records are processed in order, one batch at
// a time, and different lanes in parallel (a stream's partitions, or a queue's consumers).
type Source interface {
	// Lanes is how many lanes the source hands records out in.
	Lanes() int
	// Next waits for a lane's next records: at least one, at most max, gathering for at most
	// window after the first arrived. It returns ctx's error once ctx ends.
	Next(ctx context.Context, lane, max int, window time.Duration) ([]*Record, error)
	// Event is the function's event for a batch of one lane's records.
	Event(recs []*Record) []byte
	// FailureInfo is what a failure record adds about the batch (Lambda's KinesisBatchInfo,
	// KafkaBatchInfo...): members by name.
	FailureInfo(recs []*Record) map[string]any
	// Working tells the source that recs are still being worked on.
	Working(recs []*Record)
	// Done acknowledges records that are finished with: processed, filtered out, or sent to the
	// failure destination. A lane's records are acknowledged in order.
	Done(ctx context.Context, recs []*Record) error
	// Release hands back records that were not finished (the poller is stopping), so that they
	// are delivered again.
	Release(recs []*Record)
	// Pending is how many records wait in the source beyond those handed out, or -1 when the
	// source cannot tell.
	Pending(ctx context.Context) int64
	// Close stops the source.
	Close()
}

// SourceEnv is what a source is opened with.
type SourceEnv struct {
	JetStream jetstream.JetStream
	Region    string
	AccountID string
	AckWait   time.Duration
	// SecretsDir is where BASIC_AUTH secrets are read from.
	SecretsDir string
	Logger     *slog.Logger
}

// SourceFactory opens a mapping's source.
type SourceFactory func(ctx context.Context, m *Mapping, env SourceEnv) (Source, error)
