package esm

import (
	"encoding/json"
	"time"

	"github.com/ember-serverless/ember/internal/async"
)

// Lambda's states of an event source mapping.
const (
	StateCreating  = "Creating"
	StateEnabling  = "Enabling"
	StateEnabled   = "Enabled"
	StateDisabling = "Disabling"
	StateDisabled  = "Disabled"
	StateUpdating  = "Updating"
	StateDeleting  = "Deleting"
)

// Starting positions.
const (
	TrimHorizon = "TRIM_HORIZON"
	Latest      = "LATEST"
	AtTimestamp = "AT_TIMESTAMP"
)

// ReportBatchItemFailures is the one FunctionResponseTypes value.
const ReportBatchItemFailures = "ReportBatchItemFailures"

// Lambda's limits and defaults for mappings.
const (
	DefaultBatchSize          = 100
	MaxBatchSize              = 10000
	MaxBatchingWindow         = 300
	MinRecordAge              = 60
	MaxRecordAge              = 604800
	MaxRetryAttempts          = 10000
	MaxParallelizationFactor  = 10
	MinMaximumConcurrency     = 2
	MaxMaximumConcurrency     = 1000
	MaxBatchPayload           = 6 << 20
	DefaultListMaxItems       = 100
	MaxListItems              = 10000
	KafkaBootstrapServersType = "KAFKA_BOOTSTRAP_SERVERS"
)

// Time is a timestamp carried as fractional epoch seconds, as the REST-JSON protocol does.
type Time = async.EpochTime

// FilterCriteria is Lambda's FilterCriteria.
type FilterCriteria struct {
	Filters []Filter `json:"Filters,omitempty"`
}

// Filter is one filter of FilterCriteria.
type Filter struct {
	Pattern string `json:"Pattern,omitempty"`
}

// DestinationConfig is Lambda's DestinationConfig of a mapping.
type DestinationConfig struct {
	OnSuccess *async.Destination `json:"OnSuccess,omitempty"`
	OnFailure *async.Destination `json:"OnFailure,omitempty"`
}

// SelfManagedEventSource is Lambda's SelfManagedEventSource.
type SelfManagedEventSource struct {
	Endpoints map[string][]string `json:"Endpoints,omitempty"`
}

// SourceAccessConfiguration is one of Lambda's SourceAccessConfigurations.
type SourceAccessConfiguration struct {
	Type string `json:"Type,omitempty"`
	URI  string `json:"URI,omitempty"`
}

// KafkaConfig is Lambda's SelfManagedKafkaEventSourceConfig.
type KafkaConfig struct {
	ConsumerGroupId string `json:"ConsumerGroupId,omitempty"` //nolint:revive // Lambda's name
}

// ScalingConfig is Lambda's ScalingConfig.
type ScalingConfig struct {
	MaximumConcurrency *int `json:"MaximumConcurrency,omitempty"`
}

// Mapping is an event source mapping as stored and as answered (Lambda's
// EventSourceMappingConfiguration).
type Mapping struct {
	UUID                              string                      `json:"UUID"`
	StartingPosition                  string                      `json:"StartingPosition,omitempty"`
	StartingPositionTimestamp         *Time                       `json:"StartingPositionTimestamp,omitempty"`
	BatchSize                         int                         `json:"BatchSize"`
	MaximumBatchingWindowInSeconds    int                         `json:"MaximumBatchingWindowInSeconds"`
	ParallelizationFactor             *int                        `json:"ParallelizationFactor,omitempty"`
	EventSourceArn                    string                      `json:"EventSourceArn,omitempty"`
	FilterCriteria                    *FilterCriteria             `json:"FilterCriteria,omitempty"`
	FunctionArn                       string                      `json:"FunctionArn"`
	LastModified                      Time                        `json:"LastModified"`
	LastProcessingResult              string                      `json:"LastProcessingResult,omitempty"`
	State                             string                      `json:"State"`
	StateTransitionReason             string                      `json:"StateTransitionReason"`
	DestinationConfig                 *DestinationConfig          `json:"DestinationConfig,omitempty"`
	Topics                            []string                    `json:"Topics,omitempty"`
	Queues                            []string                    `json:"Queues,omitempty"`
	SourceAccessConfigurations        []SourceAccessConfiguration `json:"SourceAccessConfigurations,omitempty"`
	SelfManagedEventSource            *SelfManagedEventSource     `json:"SelfManagedEventSource,omitempty"`
	MaximumRecordAgeInSeconds         *int                        `json:"MaximumRecordAgeInSeconds,omitempty"`
	BisectBatchOnFunctionError        *bool                       `json:"BisectBatchOnFunctionError,omitempty"`
	MaximumRetryAttempts              *int                        `json:"MaximumRetryAttempts,omitempty"`
	FunctionResponseTypes             []string                    `json:"FunctionResponseTypes,omitempty"`
	SelfManagedKafkaEventSourceConfig *KafkaConfig                `json:"SelfManagedKafkaEventSourceConfig,omitempty"`
	ScalingConfig                     *ScalingConfig              `json:"ScalingConfig,omitempty"`

	// Function and Qualifier are the resolved function the mapping invokes (not on the wire).
	Function  string `json:"EmberFunction,omitempty"`
	Qualifier string `json:"EmberQualifier,omitempty"`
	// Enabled is whether the user wants the mapping polling (not on the wire: State says it).
	Enabled bool `json:"EmberEnabled"`
}

// Answer is the mapping as Lambda prints it, without Ember's own fields.
func (m *Mapping) Answer() any {
	type wire Mapping
	b, _ := json.Marshal((*wire)(m))
	var out map[string]json.RawMessage
	_ = json.Unmarshal(b, &out)
	delete(out, "EmberFunction")
	delete(out, "EmberQualifier")
	delete(out, "EmberEnabled")
	return out
}

// Input is the body of CreateEventSourceMapping and UpdateEventSourceMapping. Pointers tell an
// absent member from a zero one.
type Input struct {
	EventSourceArn                      *string                     `json:"EventSourceArn"`
	FunctionName                        *string                     `json:"FunctionName"`
	Enabled                             *bool                       `json:"Enabled"`
	BatchSize                           *int                        `json:"BatchSize"`
	FilterCriteria                      *FilterCriteria             `json:"FilterCriteria"`
	MaximumBatchingWindowInSeconds      *int                        `json:"MaximumBatchingWindowInSeconds"`
	ParallelizationFactor               *int                        `json:"ParallelizationFactor"`
	StartingPosition                    *string                     `json:"StartingPosition"`
	StartingPositionTimestamp           *Time                       `json:"StartingPositionTimestamp"`
	DestinationConfig                   *DestinationConfig          `json:"DestinationConfig"`
	MaximumRecordAgeInSeconds           *int                        `json:"MaximumRecordAgeInSeconds"`
	BisectBatchOnFunctionError          *bool                       `json:"BisectBatchOnFunctionError"`
	MaximumRetryAttempts                *int                        `json:"MaximumRetryAttempts"`
	TumblingWindowInSeconds             *int                        `json:"TumblingWindowInSeconds"`
	Topics                              []string                    `json:"Topics"`
	Queues                              []string                    `json:"Queues"`
	SourceAccessConfigurations          []SourceAccessConfiguration `json:"SourceAccessConfigurations"`
	SelfManagedEventSource              *SelfManagedEventSource     `json:"SelfManagedEventSource"`
	FunctionResponseTypes               []string                    `json:"FunctionResponseTypes"`
	SelfManagedKafkaEventSourceConfig   *KafkaConfig                `json:"SelfManagedKafkaEventSourceConfig"`
	AmazonManagedKafkaEventSourceConfig json.RawMessage             `json:"AmazonManagedKafkaEventSourceConfig"`
	ScalingConfig                       *ScalingConfig              `json:"ScalingConfig"`
}

// Kind is the kind of source a mapping reads.
type Kind string

// Source kinds.
const (
	KindJetStream Kind = "jetstream"
	KindKafka     Kind = "kafka"
	KindRabbitMQ  Kind = "rabbitmq"
)

// Kind is the kind of the mapping's source.
func (m *Mapping) Kind() Kind {
	switch {
	case m.SelfManagedEventSource != nil:
		return KindKafka
	case len(m.Queues) > 0:
		return KindRabbitMQ
	}
	return KindJetStream
}

// RetryAttempts is MaximumRetryAttempts, -1 for infinite (Lambda's default for streams).
func (m *Mapping) RetryAttempts() int {
	if m.MaximumRetryAttempts == nil {
		return -1
	}
	return *m.MaximumRetryAttempts
}

// MaxRecordAge is MaximumRecordAgeInSeconds, 0 for infinite.
func (m *Mapping) MaxRecordAge() time.Duration {
	if m.MaximumRecordAgeInSeconds == nil || *m.MaximumRecordAgeInSeconds < 0 {
		return 0
	}
	return time.Duration(*m.MaximumRecordAgeInSeconds) * time.Second
}

// Bisect is BisectBatchOnFunctionError.
func (m *Mapping) Bisect() bool {
	return m.BisectBatchOnFunctionError != nil && *m.BisectBatchOnFunctionError
}

// ReportsItemFailures is whether FunctionResponseTypes has ReportBatchItemFailures.
func (m *Mapping) ReportsItemFailures() bool {
	for _, t := range m.FunctionResponseTypes {
		if t == ReportBatchItemFailures {
			return true
		}
	}
	return false
}

// OnFailure is the failure destination's ARN, or "".
func (m *Mapping) OnFailure() string {
	if m.DestinationConfig == nil || m.DestinationConfig.OnFailure == nil {
		return ""
	}
	return m.DestinationConfig.OnFailure.Destination
}

// Parallelization is ParallelizationFactor, 1 when unset.
func (m *Mapping) Parallelization() int {
	if m.ParallelizationFactor == nil || *m.ParallelizationFactor < 1 {
		return 1
	}
	return *m.ParallelizationFactor
}

// MaxConcurrency is ScalingConfig.MaximumConcurrency, 0 when unset.
func (m *Mapping) MaxConcurrency() int {
	if m.ScalingConfig == nil || m.ScalingConfig.MaximumConcurrency == nil {
		return 0
	}
	return *m.ScalingConfig.MaximumConcurrency
}

// BatchingWindow is MaximumBatchingWindowInSeconds as a duration.
func (m *Mapping) BatchingWindow() time.Duration {
	return time.Duration(m.MaximumBatchingWindowInSeconds) * time.Second
}

// Patterns are the FilterCriteria's patterns.
func (m *Mapping) Patterns() []string {
	if m.FilterCriteria == nil {
		return nil
	}
	var out []string
	for _, f := range m.FilterCriteria.Filters {
		out = append(out, f.Pattern)
	}
	return out
}
