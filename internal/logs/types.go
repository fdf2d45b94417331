package logs

// The request and response shapes of the operations served, with CloudWatch Logs' JSON field
// names (botocore's logs/2014-03-28/service-2.json). Times are milliseconds since the epoch.

// DescribeLogGroupsInput asks for log groups in name order.
type DescribeLogGroupsInput struct {
	LogGroupNamePrefix string `json:"logGroupNamePrefix,omitempty"`
	// LogGroupNamePattern matches groups whose name contains it (case-insensitive).
	LogGroupNamePattern string `json:"logGroupNamePattern,omitempty"`
	NextToken           string `json:"nextToken,omitempty"`
	Limit               *int   `json:"limit,omitempty"`
}

// DescribeLogGroupsOutput is a page of log groups.
type DescribeLogGroupsOutput struct {
	LogGroups []LogGroup `json:"logGroups"`
	NextToken string     `json:"nextToken,omitempty"`
}

// LogGroup describes one log group.
type LogGroup struct {
	LogGroupName      string `json:"logGroupName"`
	CreationTime      int64  `json:"creationTime"`
	MetricFilterCount int    `json:"metricFilterCount"`
	Arn               string `json:"arn"`
	LogGroupArn       string `json:"logGroupArn"`
	StoredBytes       int64  `json:"storedBytes"`
	LogGroupClass     string `json:"logGroupClass"`
	RetentionInDays   *int   `json:"retentionInDays,omitempty"`
}

// DescribeLogStreamsInput asks for the streams of one group.
type DescribeLogStreamsInput struct {
	LogGroupName        string `json:"logGroupName,omitempty"`
	LogGroupIdentifier  string `json:"logGroupIdentifier,omitempty"`
	LogStreamNamePrefix string `json:"logStreamNamePrefix,omitempty"`
	// OrderBy is "LogStreamName" (the default) or "LastEventTime".
	OrderBy    string `json:"orderBy,omitempty"`
	Descending bool   `json:"descending,omitempty"`
	NextToken  string `json:"nextToken,omitempty"`
	Limit      *int   `json:"limit,omitempty"`
}

// DescribeLogStreamsOutput is a page of log streams.
type DescribeLogStreamsOutput struct {
	LogStreams []LogStream `json:"logStreams"`
	NextToken  string      `json:"nextToken,omitempty"`
}

// LogStream describes one log stream.
type LogStream struct {
	LogStreamName       string `json:"logStreamName"`
	CreationTime        int64  `json:"creationTime"`
	FirstEventTimestamp int64  `json:"firstEventTimestamp,omitempty"`
	LastEventTimestamp  int64  `json:"lastEventTimestamp,omitempty"`
	LastIngestionTime   int64  `json:"lastIngestionTime,omitempty"`
	Arn                 string `json:"arn"`
	StoredBytes         int64  `json:"storedBytes"`
}

// GetLogEventsInput asks for the events of one stream.
type GetLogEventsInput struct {
	LogGroupName       string `json:"logGroupName,omitempty"`
	LogGroupIdentifier string `json:"logGroupIdentifier,omitempty"`
	LogStreamName      string `json:"logStreamName"`
	// StartTime includes events at or after it; EndTime excludes events at or after it.
	StartTime     *int64 `json:"startTime,omitempty"`
	EndTime       *int64 `json:"endTime,omitempty"`
	NextToken     string `json:"nextToken,omitempty"`
	Limit         *int   `json:"limit,omitempty"`
	StartFromHead bool   `json:"startFromHead,omitempty"`
	Unmask        bool   `json:"unmask,omitempty"`
}

// GetLogEventsOutput is a page of one stream's events, oldest first.
type GetLogEventsOutput struct {
	Events            []OutputLogEvent `json:"events"`
	NextForwardToken  string           `json:"nextForwardToken"`
	NextBackwardToken string           `json:"nextBackwardToken"`
}

// OutputLogEvent is one event as GetLogEvents returns it.
type OutputLogEvent struct {
	Timestamp     int64  `json:"timestamp"`
	Message       string `json:"message"`
	IngestionTime int64  `json:"ingestionTime"`
}

// FilterLogEventsInput searches a group's events.
type FilterLogEventsInput struct {
	LogGroupName        string   `json:"logGroupName,omitempty"`
	LogGroupIdentifier  string   `json:"logGroupIdentifier,omitempty"`
	LogStreamNames      []string `json:"logStreamNames,omitempty"`
	LogStreamNamePrefix string   `json:"logStreamNamePrefix,omitempty"`
	StartTime           *int64   `json:"startTime,omitempty"`
	EndTime             *int64   `json:"endTime,omitempty"`
	FilterPattern       string   `json:"filterPattern,omitempty"`
	NextToken           string   `json:"nextToken,omitempty"`
	Limit               *int     `json:"limit,omitempty"`
	// Interleaved is deprecated in CloudWatch and ignored: results are always interleaved.
	Interleaved bool `json:"interleaved,omitempty"`
	Unmask      bool `json:"unmask,omitempty"`
}

// FilterLogEventsOutput is a page of matching events, in the order they were stored.
type FilterLogEventsOutput struct {
	Events             []FilteredLogEvent  `json:"events"`
	SearchedLogStreams []SearchedLogStream `json:"searchedLogStreams"`
	NextToken          string              `json:"nextToken,omitempty"`
}

// FilteredLogEvent is one event as FilterLogEvents returns it. EventID is stable: the same
// event has the same id in every response.
type FilteredLogEvent struct {
	LogStreamName string `json:"logStreamName"`
	Timestamp     int64  `json:"timestamp"`
	Message       string `json:"message"`
	IngestionTime int64  `json:"ingestionTime"`
	EventID       string `json:"eventId"`
}

// SearchedLogStream is deprecated in CloudWatch; FilterLogEvents returns an empty list.
type SearchedLogStream struct {
	LogStreamName      string `json:"logStreamName"`
	SearchedCompletely bool   `json:"searchedCompletely"`
}

// CreateLogGroupInput creates an empty log group.
type CreateLogGroupInput struct {
	LogGroupName string            `json:"logGroupName"`
	KmsKeyID     string            `json:"kmsKeyId,omitempty"`
	Tags         map[string]string `json:"tags,omitempty"`
}

// DeleteLogGroupInput deletes a log group and all its events.
type DeleteLogGroupInput struct {
	LogGroupName string `json:"logGroupName"`
}
