package esm

import (
	"fmt"
	"slices"
	"strings"

	"github.com/ember-serverless/ember/internal/esm/filter"
	"github.com/ember-serverless/ember/internal/lambdaerr"
)

// constraint is Lambda's message for a member that breaks the API model.
func constraint(value any, member, rule string) *lambdaerr.Error {
	return lambdaerr.InvalidParameter("1 validation error detected: Value '%v' at '%s' failed to satisfy constraint: %s", value, member, rule)
}

func checkRange(p *int, member string, lo, hi int) error {
	if p == nil {
		return nil
	}
	if *p < lo {
		return constraint(*p, member, fmt.Sprintf("Member must have value greater than or equal to %d", lo))
	}
	if *p > hi {
		return constraint(*p, member, fmt.Sprintf("Member must have value less than or equal to %d", hi))
	}
	return nil
}

// checkModel checks what the API model itself bounds, before any meaning is given to it.
func checkModel(in *Input) error {
	for _, c := range []struct {
		p      *int
		member string
		lo, hi int
	}{
		{in.BatchSize, "batchSize", 1, MaxBatchSize},
		{in.MaximumBatchingWindowInSeconds, "maximumBatchingWindowInSeconds", 0, MaxBatchingWindow},
		{in.ParallelizationFactor, "parallelizationFactor", 1, MaxParallelizationFactor},
		{in.MaximumRecordAgeInSeconds, "maximumRecordAgeInSeconds", -1, MaxRecordAge},
		{in.MaximumRetryAttempts, "maximumRetryAttempts", -1, MaxRetryAttempts},
		{in.TumblingWindowInSeconds, "tumblingWindowInSeconds", 0, 900},
	} {
		if err := checkRange(c.p, c.member, c.lo, c.hi); err != nil {
			return err
		}
	}
	if in.ScalingConfig != nil {
		if err := checkRange(in.ScalingConfig.MaximumConcurrency, "scalingConfig.maximumConcurrency", MinMaximumConcurrency, MaxMaximumConcurrency); err != nil {
			return err
		}
	}
	if in.StartingPosition != nil && !slices.Contains([]string{TrimHorizon, Latest, AtTimestamp}, *in.StartingPosition) {
		return constraint(*in.StartingPosition, "startingPosition", "Member must satisfy enum value set: [TRIM_HORIZON, LATEST, AT_TIMESTAMP]")
	}
	for _, t := range in.FunctionResponseTypes {
		if t != ReportBatchItemFailures {
			return constraint(in.FunctionResponseTypes, "functionResponseTypes", "Member must satisfy constraint: [Member must satisfy enum value set: [ReportBatchItemFailures]]")
		}
	}
	if in.MaximumRecordAgeInSeconds != nil && *in.MaximumRecordAgeInSeconds >= 0 && *in.MaximumRecordAgeInSeconds < MinRecordAge {
		return lambdaerr.InvalidParameter("MaximumRecordAgeInSeconds must be -1 (infinite) or between %d and %d.", MinRecordAge, MaxRecordAge)
	}
	if in.TumblingWindowInSeconds != nil && *in.TumblingWindowInSeconds != 0 {
		return lambdaerr.InvalidParameter("TumblingWindowInSeconds is not supported by this server.")
	}
	if len(in.AmazonManagedKafkaEventSourceConfig) > 0 && string(in.AmazonManagedKafkaEventSourceConfig) != "null" {
		return lambdaerr.InvalidParameter("AmazonManagedKafkaEventSourceConfig is not supported: there is no Amazon MSK here; use SelfManagedEventSource.")
	}
	if in.FilterCriteria != nil {
		if len(in.FilterCriteria.Filters) > filter.MaxFilters {
			return lambdaerr.InvalidParameter("The number of filters (%d) exceeds the limit of %d.", len(in.FilterCriteria.Filters), filter.MaxFilters)
		}
		for _, f := range in.FilterCriteria.Filters {
			if _, err := filter.Compile(f.Pattern); err != nil {
				return lambdaerr.InvalidParameter("Invalid filter pattern definition: %s", strings.TrimPrefix(err.Error(), filter.ErrInvalidPattern.Error()+": "))
			}
		}
	}
	return nil
}

// apply merges the input's members into m (a new mapping or a copy of the stored one).
func apply(m *Mapping, in *Input) {
	if in.Enabled != nil {
		m.Enabled = *in.Enabled
	}
	if in.BatchSize != nil {
		m.BatchSize = *in.BatchSize
	}
	if in.FilterCriteria != nil {
		if len(in.FilterCriteria.Filters) == 0 {
			m.FilterCriteria = nil
		} else {
			fc := *in.FilterCriteria
			m.FilterCriteria = &fc
		}
	}
	if in.MaximumBatchingWindowInSeconds != nil {
		m.MaximumBatchingWindowInSeconds = *in.MaximumBatchingWindowInSeconds
	}
	if in.ParallelizationFactor != nil {
		m.ParallelizationFactor = in.ParallelizationFactor
	}
	if in.DestinationConfig != nil {
		d := *in.DestinationConfig
		m.DestinationConfig = &d
	}
	if in.MaximumRecordAgeInSeconds != nil {
		m.MaximumRecordAgeInSeconds = in.MaximumRecordAgeInSeconds
	}
	if in.BisectBatchOnFunctionError != nil {
		m.BisectBatchOnFunctionError = in.BisectBatchOnFunctionError
	}
	if in.MaximumRetryAttempts != nil {
		m.MaximumRetryAttempts = in.MaximumRetryAttempts
	}
	if in.FunctionResponseTypes != nil {
		m.FunctionResponseTypes = in.FunctionResponseTypes
		if len(m.FunctionResponseTypes) == 0 {
			m.FunctionResponseTypes = nil
		}
	}
	if in.SourceAccessConfigurations != nil {
		m.SourceAccessConfigurations = in.SourceAccessConfigurations
	}
	if in.ScalingConfig != nil {
		if in.ScalingConfig.MaximumConcurrency == nil {
			m.ScalingConfig = nil
		} else {
			sc := *in.ScalingConfig
			m.ScalingConfig = &sc
		}
	}
}

// checkForKind checks the members that only some kinds of source take, once the mapping is
// merged.
func (s *Service) checkForKind(m *Mapping, creating bool) error {
	stream := m.Kind() == KindJetStream
	if m.DestinationConfig != nil && m.DestinationConfig.OnSuccess != nil && m.DestinationConfig.OnSuccess.Destination != "" {
		return lambdaerr.InvalidParameter("Unsupported DestinationConfig parameter for given event source mapping type.")
	}
	if d := m.OnFailure(); d != "" {
		if m.Kind() == KindRabbitMQ {
			return lambdaerr.InvalidParameter("Unsupported DestinationConfig parameter for given event source mapping type.")
		}
		if _, err := s.cfg.ARNs.ParseTarget(d, "destination"); err != nil {
			return err
		}
	}
	if !stream {
		if m.ParallelizationFactor != nil {
			return lambdaerr.InvalidParameter("Unsupported parameter for given event source mapping type: ParallelizationFactor.")
		}
	}
	if m.Kind() == KindRabbitMQ {
		if err := s.checkRabbitAccess(m); err != nil {
			return err
		}
		switch {
		case m.MaximumRetryAttempts != nil, m.MaximumRecordAgeInSeconds != nil, m.BisectBatchOnFunctionError != nil:
			return lambdaerr.InvalidParameter("Unsupported parameter for given event source mapping type: MaximumRetryAttempts, MaximumRecordAgeInSeconds and BisectBatchOnFunctionError apply to stream sources.")
		case m.StartingPosition != "":
			return lambdaerr.InvalidParameter("Unsupported starting position for given event source mapping type.")
		}
	}
	if creating && m.Kind() != KindRabbitMQ {
		switch {
		case m.StartingPosition == "":
			return lambdaerr.InvalidParameter("1 validation error detected: Value null at 'startingPosition' failed to satisfy constraint: Member must not be null")
		case m.StartingPosition == AtTimestamp && m.StartingPositionTimestamp == nil:
			return lambdaerr.InvalidParameter("StartingPositionTimestamp is required when StartingPosition is AT_TIMESTAMP.")
		case m.StartingPosition != AtTimestamp && m.StartingPositionTimestamp != nil:
			return lambdaerr.InvalidParameter("StartingPositionTimestamp is only valid when StartingPosition is AT_TIMESTAMP.")
		}
	}
	if m.Kind() == KindKafka && m.BatchSize > MaxBatchSize {
		return constraint(m.BatchSize, "batchSize", "Member must have value less than or equal to 10000")
	}
	if m.Kind() == KindRabbitMQ && m.BatchSize > MaxBatchSize {
		return constraint(m.BatchSize, "batchSize", "Member must have value less than or equal to 10000")
	}
	return nil
}
