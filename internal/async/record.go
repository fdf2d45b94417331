package async

import (
	"encoding/json"
	"time"
)

// Conditions an invocation record names, as Lambda's.
const (
	ConditionSuccess          = "Success"
	ConditionRetriesExhausted = "RetriesExhausted"
	ConditionEventAgeExceeded = "EventAgeExceeded"
)

// RecordVersion is the version of Lambda's invocation record format.
const RecordVersion = "1.0"

// Record is Lambda's invocation record: what a destination receives about an asynchronous
// invocation (or an event source mapping's batch) that succeeded or failed.
type Record struct {
	Version         string           `json:"version"`
	Timestamp       string           `json:"timestamp"`
	RequestContext  RequestContext   `json:"requestContext"`
	RequestPayload  json.RawMessage  `json:"requestPayload"`
	ResponseContext *ResponseContext `json:"responseContext,omitempty"`
	ResponsePayload json.RawMessage  `json:"responsePayload,omitempty"`
}

// RequestContext is the record's requestContext.
type RequestContext struct {
	RequestID              string `json:"requestId"`
	FunctionArn            string `json:"functionArn"`
	Condition              string `json:"condition"`
	ApproximateInvokeCount int    `json:"approximateInvokeCount"`
}

// ResponseContext is the record's responseContext: what the last invocation answered.
type ResponseContext struct {
	StatusCode      int    `json:"statusCode"`
	ExecutedVersion string `json:"executedVersion"`
	FunctionError   string `json:"functionError,omitempty"`
}

// RecordTimeLayout is how Lambda prints a record's timestamp: "2019-11-14T18:16:05.568Z".
const RecordTimeLayout = "2006-01-02T15:04:05.000Z"

// NewRecord builds an invocation record. functionArn is the qualified ARN of the function that
// ran; resp is nil when the function never answered (its events expired while throttled, for
// example); request and response payloads that are not JSON are carried as JSON strings.
func NewRecord(at time.Time, requestID, functionArn, condition string, invokeCount int, request []byte, resp *ResponseContext, response []byte) *Record {
	r := &Record{
		Version:   RecordVersion,
		Timestamp: at.UTC().Format(RecordTimeLayout),
		RequestContext: RequestContext{RequestID: requestID, FunctionArn: functionArn, Condition: condition,
			ApproximateInvokeCount: invokeCount},
		RequestPayload: asJSON(request),
	}
	if resp != nil {
		r.ResponseContext = resp
		r.ResponsePayload = asJSON(response)
	}
	return r
}

// asJSON is b when it is JSON, else b as a JSON string; null when empty.
func asJSON(b []byte) json.RawMessage {
	if len(b) == 0 {
		return json.RawMessage("null")
	}
	if json.Valid(b) {
		return b
	}
	s, _ := json.Marshal(string(b))
	return s
}

// Marshal is the record's JSON.
func (r *Record) Marshal() []byte {
	b, _ := json.Marshal(r)
	return b
}
