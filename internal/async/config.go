package async

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ember-serverless/ember/internal/lambdaerr"
)

// Lambda's defaults and limits for asynchronous invocation.
const (
	// DefaultMaximumRetryAttempts is how many times a function error is retried when no
	// event-invoke configuration says otherwise.
	DefaultMaximumRetryAttempts = 2
	// DefaultMaximumEventAge is how long an event is kept for when no configuration says
	// otherwise (six hours).
	DefaultMaximumEventAge = 21600 * time.Second
	// MinMaximumEventAgeInSeconds and MaxMaximumEventAgeInSeconds bound MaximumEventAgeInSeconds.
	MinMaximumEventAgeInSeconds = 60
	MaxMaximumEventAgeInSeconds = 21600
	// MaxMaximumRetryAttempts bounds MaximumRetryAttempts.
	MaxMaximumRetryAttempts = 2
	// MaxDestinationArnLen is the API model's limit on a destination ARN.
	MaxDestinationArnLen = 350
	// MaxEventPayload is Lambda's limit on an asynchronous invocation's payload (1 MB since
	// 2025; it was 256 KB).
	MaxEventPayload = 1 << 20
	// MaxInvokeAsyncPayload is the deprecated InvokeAsync operation's limit, still 256 KB.
	MaxInvokeAsyncPayload = 256 << 10
)

// Destination is Lambda's OnSuccess and OnFailure shape.
type Destination struct {
	Destination string `json:"Destination,omitempty"`
}

// DestinationConfig is Lambda's DestinationConfig. Both members are always present in answers,
// as Lambda prints them ({} when unset).
type DestinationConfig struct {
	OnSuccess *Destination `json:"OnSuccess,omitempty"`
	OnFailure *Destination `json:"OnFailure,omitempty"`
}

// EventInvokeConfig is Lambda's FunctionEventInvokeConfig, as stored and as answered.
type EventInvokeConfig struct {
	// LastModified is printed as epoch seconds with milliseconds, as the REST-JSON protocol
	// prints a timestamp.
	LastModified             EpochTime          `json:"LastModified"`
	FunctionArn              string             `json:"FunctionArn"`
	MaximumRetryAttempts     *int               `json:"MaximumRetryAttempts,omitempty"`
	MaximumEventAgeInSeconds *int               `json:"MaximumEventAgeInSeconds,omitempty"`
	DestinationConfig        *DestinationConfig `json:"DestinationConfig,omitempty"`
}

// ConfigInput is the body of PutFunctionEventInvokeConfig and UpdateFunctionEventInvokeConfig.
type ConfigInput struct {
	MaximumRetryAttempts     *int               `json:"MaximumRetryAttempts"`
	MaximumEventAgeInSeconds *int               `json:"MaximumEventAgeInSeconds"`
	DestinationConfig        *DestinationConfig `json:"DestinationConfig"`
}

// EpochTime is a time that JSON carries as fractional epoch seconds.
type EpochTime struct{ time.Time }

// MarshalJSON prints seconds with millisecond precision.
func (t EpochTime) MarshalJSON() ([]byte, error) {
	return []byte(strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', 3, 64)), nil
}

// UnmarshalJSON reads fractional epoch seconds.
func (t *EpochTime) UnmarshalJSON(b []byte) error {
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return err
	}
	t.Time = time.UnixMilli(int64(f * 1000))
	return nil
}

// RetryAttempts is the configuration's MaximumRetryAttempts, or Lambda's default.
func (c *EventInvokeConfig) RetryAttempts() int {
	if c == nil || c.MaximumRetryAttempts == nil {
		return DefaultMaximumRetryAttempts
	}
	return *c.MaximumRetryAttempts
}

// MaxAge is the configuration's MaximumEventAgeInSeconds, or Lambda's default.
func (c *EventInvokeConfig) MaxAge() time.Duration {
	if c == nil || c.MaximumEventAgeInSeconds == nil {
		return DefaultMaximumEventAge
	}
	return time.Duration(*c.MaximumEventAgeInSeconds) * time.Second
}

// OnSuccess is the success destination's ARN, or "".
func (c *EventInvokeConfig) OnSuccess() string {
	if c == nil || c.DestinationConfig == nil || c.DestinationConfig.OnSuccess == nil {
		return ""
	}
	return c.DestinationConfig.OnSuccess.Destination
}

// OnFailure is the failure destination's ARN, or "".
func (c *EventInvokeConfig) OnFailure() string {
	if c == nil || c.DestinationConfig == nil || c.DestinationConfig.OnFailure == nil {
		return ""
	}
	return c.DestinationConfig.OnFailure.Destination
}

// answer fills what Lambda always prints: both destinations, as {} when unset.
func (c EventInvokeConfig) answer() *EventInvokeConfig {
	d := DestinationConfig{OnSuccess: &Destination{}, OnFailure: &Destination{}}
	if c.DestinationConfig != nil {
		if c.DestinationConfig.OnSuccess != nil {
			d.OnSuccess = c.DestinationConfig.OnSuccess
		}
		if c.DestinationConfig.OnFailure != nil {
			d.OnFailure = c.DestinationConfig.OnFailure
		}
	}
	c.DestinationConfig = &d
	return &c
}

// ARNs is what validation needs to know of the server's own ARNs.
type ARNs struct {
	Region, AccountID string
}

// FunctionARN is the ARN of a function (qualifier may be empty).
func (a ARNs) FunctionARN(name, qualifier string) string {
	s := "arn:aws:lambda:" + a.Region + ":" + a.AccountID + ":function:" + name
	if qualifier != "" {
		s += ":" + qualifier
	}
	return s
}

// SubjectARN is the ARN form of a NATS subject destination.
func (a ARNs) SubjectARN(subject string) string {
	return "arn:aws:nats:" + a.Region + ":" + a.AccountID + ":subject:" + subject
}

// Target is a parsed destination or dead-letter ARN.
type Target struct {
	// Function (with Qualifier) is set for a Lambda function.
	Function, Qualifier string
	// Subject is set for a NATS subject.
	Subject string
}

// ParseTarget reads a destination or dead-letter ARN: a Lambda function
// (arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]) or a NATS subject
// (arn:aws:nats:REGION:ACCOUNT:subject:SUBJECT). member names the request member for messages.
func (a ARNs) ParseTarget(arn, member string) (Target, error) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 6 || parts[0] != "arn" || !strings.HasPrefix(parts[1], "aws") {
		return Target{}, lambdaerr.InvalidParameter("The %s ARN %s is not a valid ARN.", member, arn)
	}
	service, region, account, rest := parts[2], parts[3], parts[4], parts[5]
	switch service {
	case "lambda", "nats":
	case "sqs", "sns", "events", "s3":
		return Target{}, lambdaerr.InvalidParameter("The %s ARN %s names a %s resource, which this server does not have: "+
			"use a Lambda function ARN or a NATS subject ARN (arn:aws:nats:%s:%s:subject:SUBJECT).", member, arn, strings.ToUpper(service), a.Region, a.AccountID)
	default:
		return Target{}, lambdaerr.InvalidParameter("The %s ARN %s is not supported: use a Lambda function ARN or a NATS subject ARN "+
			"(arn:aws:nats:%s:%s:subject:SUBJECT).", member, arn, a.Region, a.AccountID)
	}
	if region != a.Region || account != a.AccountID {
		return Target{}, lambdaerr.InvalidParameter("The %s ARN %s is not in this server's region and account (%s, %s).", member, arn, a.Region, a.AccountID)
	}
	kind, name, _ := strings.Cut(rest, ":")
	switch {
	case service == "lambda" && kind == "function":
		fn, q, _ := strings.Cut(name, ":")
		if !validName(fn) || (q != "" && !validName(strings.TrimPrefix(q, "$"))) {
			return Target{}, lambdaerr.InvalidParameter("The %s ARN %s does not name a function.", member, arn)
		}
		return Target{Function: fn, Qualifier: q}, nil
	case service == "nats" && kind == "subject":
		subject := strings.TrimPrefix(rest, "subject:")
		if !validSubject(subject) {
			return Target{}, lambdaerr.InvalidParameter("The %s ARN %s does not name a valid NATS subject: "+
				"tokens separated by '.', without spaces or wildcards.", member, arn)
		}
		return Target{Subject: subject}, nil
	}
	return Target{}, lambdaerr.InvalidParameter("The %s ARN %s is not a function or subject ARN.", member, arn)
}

func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// validSubject accepts a literal NATS subject that a publisher may use.
func validSubject(s string) bool {
	if s == "" || len(s) > 255 {
		return false
	}
	for _, tok := range strings.Split(s, ".") {
		if tok == "" || tok == "*" || tok == ">" {
			return false
		}
		for _, r := range tok {
			if r <= ' ' || r == '*' || r == '>' || r == 0x7f {
				return false
			}
		}
	}
	return true
}

func constraint(value any, member, c string) error {
	return lambdaerr.InvalidParameter("1 validation error detected: Value '%v' at '%s' failed to satisfy constraint: %s", value, member, c)
}

// destinationPattern is the API model's pattern for DestinationArn.
const destinationPattern = `^$|arn:(aws[a-zA-Z0-9-]*):([a-zA-Z0-9\-])+:([a-z]{2}(-gov)?-[a-z]+-\d{1})?:(\d{12})?:(.*)`

// Validate checks an input against the API model and Ember's destinations, for the function
// whose ARN (unqualified) is self. It returns the first problem as Lambda words it.
func (a ARNs) Validate(in *ConfigInput, selfName string) error {
	if n := in.MaximumRetryAttempts; n != nil {
		if *n < 0 {
			return constraint(*n, "maximumRetryAttempts", "Member must have value greater than or equal to 0")
		}
		if *n > MaxMaximumRetryAttempts {
			return constraint(*n, "maximumRetryAttempts", "Member must have value less than or equal to 2")
		}
	}
	if n := in.MaximumEventAgeInSeconds; n != nil {
		if *n < MinMaximumEventAgeInSeconds {
			return constraint(*n, "maximumEventAgeInSeconds", "Member must have value greater than or equal to 60")
		}
		if *n > MaxMaximumEventAgeInSeconds {
			return constraint(*n, "maximumEventAgeInSeconds", "Member must have value less than or equal to 21600")
		}
	}
	if in.DestinationConfig == nil {
		return nil
	}
	for _, d := range []struct {
		member string
		dest   *Destination
	}{{"destinationConfig.onSuccess.destination", in.DestinationConfig.OnSuccess}, {"destinationConfig.onFailure.destination", in.DestinationConfig.OnFailure}} {
		if d.dest == nil || d.dest.Destination == "" {
			continue
		}
		arn := d.dest.Destination
		if len(arn) > MaxDestinationArnLen {
			return constraint(arn, d.member, "Member must have length less than or equal to 350")
		}
		t, err := a.ParseTarget(arn, "destination")
		if err != nil {
			if !strings.HasPrefix(arn, "arn:aws") {
				return constraint(arn, d.member, "Member must satisfy regular expression pattern: "+destinationPattern)
			}
			return err
		}
		if t.Function == selfName {
			return lambdaerr.InvalidParameter("You can't specify the function %s as a destination for itself.", a.FunctionARN(selfName, ""))
		}
	}
	return nil
}

// decodeStored reads a stored configuration.
func decodeStored(b []byte) (*EventInvokeConfig, error) {
	var c EventInvokeConfig
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("async: stored event invoke config: %w", err)
	}
	return &c, nil
}
