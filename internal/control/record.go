package control

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// recordSchema is the schema version of the function records this code writes, stored in every
// record's "v". A record without "v" is schema 0: the layout written before records had their
// own type (the API's FunctionConfiguration under "config"); it is still read.
const recordSchema = 1

// errNewerRecord is wrapped by the error for a record written by a newer Ember than this one.
var errNewerRecord = errors.New("record schema is newer than this server reads")

// functionRecord is a function as the functions bucket stores it (schema 1). It is the
// registry's own type, not the API's: a change of the wire shape is made in Function's
// FunctionConfiguration and in toFunction, never here, so it needs no data migration. It keeps
// only what cannot be derived: the ARN, CodeSha256/CodeSize, LastModified, the runtime version
// and the constant members of FunctionConfiguration are computed when the record is read.
type functionRecord struct {
	V                int               `json:"v"`
	Name             string            `json:"name"`
	Runtime          string            `json:"runtime,omitempty"`
	Role             string            `json:"role"`
	Handler          string            `json:"handler,omitempty"`
	Description      string            `json:"description,omitempty"`
	Timeout          int               `json:"timeout"`
	MemorySize       int               `json:"memorySize"`
	EphemeralStorage int               `json:"ephemeralStorage,omitempty"`
	Environment      map[string]string `json:"environment,omitempty"`
	TracingMode      string            `json:"tracingMode,omitempty"`
	// DeadLetterTarget is DeadLetterConfig.TargetArn.
	DeadLetterTarget string `json:"deadLetterTarget,omitempty"`
	// SnapStart is SnapStart.ApplyOn when it is not "None".
	SnapStart     string         `json:"snapStart,omitempty"`
	PackageType   string         `json:"packageType"`
	Architectures []string       `json:"architectures"`
	Logging       *recordLogging `json:"logging,omitempty"`
	// State and LastUpdate are the function's lifecycle and last update, with their reasons.
	State      recordStatus `json:"state"`
	LastUpdate recordStatus `json:"lastUpdate,omitzero"`
	RevisionID string       `json:"revisionId"`
	Modified   time.Time    `json:"modified"`
	Code       Code         `json:"code"`
	// Layers are the function's layer versions in order, each with its stored archive.
	Layers []recordLayer     `json:"layers,omitempty"`
	Tags   map[string]string `json:"tags,omitempty"`
	// Policy is the resource-based policy's statements, as AddPermission rendered them.
	Policy []PolicyStatement `json:"policy,omitempty"`
	// RuntimeUpdateOn and RuntimeVersionArn are the runtime management config ("" is Auto).
	RuntimeUpdateOn   string `json:"runtimeUpdateOn,omitempty"`
	RuntimeVersionArn string `json:"runtimeVersionArn,omitempty"`
	// Version is set in a published version's record (the versions bucket): its number.
	Version string `json:"version,omitempty"`
	// Source is, in a published version's record, the fingerprint of the $LATEST it was
	// published from (Function.fingerprint), so a publish with nothing changed finds it.
	Source string `json:"source,omitempty"`
	// LastVersion is, in a function's record, the number of the last version published (or
	// reserved by PublishPending); numbers are never reused, as in Lambda.
	LastVersion int `json:"lastVersion,omitempty"`
	// PublishPending is the version number a create or code update with Publish reserved, to be
	// published when the change is ready.
	PublishPending int `json:"publishPending,omitempty"`
	// Reserved is the function's reserved concurrency (PutFunctionConcurrency); nil without one.
	Reserved *int `json:"reserved,omitempty"`
}

type recordLogging struct {
	Format           string `json:"format,omitempty"`
	Group            string `json:"group,omitempty"`
	ApplicationLevel string `json:"applicationLevel,omitempty"`
	SystemLevel      string `json:"systemLevel,omitempty"`
}

type recordStatus struct {
	Status     string `json:"status,omitempty"`
	Reason     string `json:"reason,omitempty"`
	ReasonCode string `json:"reasonCode,omitempty"`
}

type recordLayer struct {
	Arn  string `json:"arn"`
	Code Code   `json:"code"`
}

// encodeRecord is f as the bucket stores it.
func encodeRecord(f *Function) ([]byte, error) {
	c := &f.Config
	rec := functionRecord{
		V: recordSchema, Name: c.FunctionName, Runtime: c.Runtime, Role: c.Role, Handler: c.Handler,
		Description: c.Description, Timeout: c.Timeout, MemorySize: c.MemorySize,
		PackageType: c.PackageType, Architectures: c.Architectures,
		State:      recordStatus{c.State, c.StateReason, c.StateReasonCode},
		LastUpdate: recordStatus{c.LastUpdateStatus, c.LastUpdateStatusReason, c.LastUpdateStatusReasonCode},
		RevisionID: c.RevisionId, Modified: f.Modified, Code: f.Code, Tags: f.Tags,
		Policy: f.Policy, RuntimeUpdateOn: f.RuntimeUpdateOn, RuntimeVersionArn: f.RuntimeVersionArn,
		Source: f.source, LastVersion: f.LastVersion, PublishPending: f.publishPending,
	}
	if c.Version != LatestVersion {
		rec.Version = c.Version
	} else {
		rec.Reserved = f.Reserved // the function's, never a version's
	}
	if c.EphemeralStorage != nil {
		rec.EphemeralStorage = c.EphemeralStorage.Size
	}
	if c.Environment != nil {
		rec.Environment = c.Environment.Variables
	}
	if c.TracingConfig != nil {
		rec.TracingMode = c.TracingConfig.Mode
	}
	if c.DeadLetterConfig != nil {
		rec.DeadLetterTarget = c.DeadLetterConfig.TargetArn
	}
	if c.SnapStart != nil && c.SnapStart.ApplyOn != SnapStartNone {
		rec.SnapStart = c.SnapStart.ApplyOn
	}
	if l := c.LoggingConfig; l != nil {
		rec.Logging = &recordLogging{l.LogFormat, l.LogGroup, l.ApplicationLogLevel, l.SystemLogLevel}
	}
	if len(c.Layers) != len(f.LayerCode) {
		return nil, fmt.Errorf("function %s: %d layers but %d layer archives", c.FunctionName, len(c.Layers), len(f.LayerCode))
	}
	for i, l := range c.Layers {
		rec.Layers = append(rec.Layers, recordLayer{Arn: l.Arn, Code: f.LayerCode[i]})
	}
	return json.Marshal(rec)
}

// decodeRecord reads a stored function record of any schema this code knows, read at KV
// revision rev.
func (r *Registry) decodeRecord(data []byte, rev uint64) (*Function, error) {
	var head struct {
		V int `json:"v"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, err
	}
	var rec functionRecord
	switch head.V {
	case 0:
		var old recordV0
		if err := json.Unmarshal(data, &old); err != nil {
			return nil, err
		}
		rec = old.upgrade()
	case recordSchema:
		if err := json.Unmarshal(data, &rec); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("schema %d (this server reads up to %d): %w", head.V, recordSchema, errNewerRecord)
	}
	f := r.toFunction(&rec)
	f.revision = rev
	return f, nil
}

// toFunction is the function a record holds, with its derived members filled in.
func (r *Registry) toFunction(rec *functionRecord) *Function {
	c := FunctionConfiguration{
		FunctionName:         rec.Name,
		FunctionArn:          r.cfg.ARN(rec.Name),
		Runtime:              rec.Runtime,
		Role:                 rec.Role,
		Handler:              rec.Handler,
		CodeSize:             rec.Code.Size,
		Description:          rec.Description,
		Timeout:              rec.Timeout,
		MemorySize:           rec.MemorySize,
		LastModified:         rec.Modified.UTC().Format(LastModifiedLayout),
		CodeSha256:           rec.Code.Sha256,
		Version:              LatestVersion,
		RevisionId:           rec.RevisionID,
		State:                rec.State.Status,
		StateReason:          rec.State.Reason,
		StateReasonCode:      rec.State.ReasonCode,
		PackageType:          rec.PackageType,
		Architectures:        rec.Architectures,
		SnapStart:            r.snapStart(rec.SnapStart),
		RuntimeVersionConfig: r.runtimeVersion(rec.Runtime),

		LastUpdateStatus:           rec.LastUpdate.Status,
		LastUpdateStatusReason:     rec.LastUpdate.Reason,
		LastUpdateStatusReasonCode: rec.LastUpdate.ReasonCode,
	}
	if rec.Version != "" {
		c.Version = rec.Version
		c.FunctionArn += ":" + rec.Version
	}
	if rec.EphemeralStorage > 0 {
		c.EphemeralStorage = &EphemeralStorage{Size: rec.EphemeralStorage}
	}
	if rec.Environment != nil {
		c.Environment = &EnvironmentResponse{Variables: rec.Environment}
	}
	if rec.TracingMode != "" {
		c.TracingConfig = &TracingConfig{Mode: rec.TracingMode}
	}
	if rec.DeadLetterTarget != "" {
		c.DeadLetterConfig = &DeadLetterConfig{TargetArn: rec.DeadLetterTarget}
	}
	if l := rec.Logging; l != nil {
		c.LoggingConfig = &LoggingConfig{LogFormat: l.Format, LogGroup: l.Group,
			ApplicationLogLevel: l.ApplicationLevel, SystemLogLevel: l.SystemLevel}
	}
	f := &Function{Config: c, Code: rec.Code, Tags: rec.Tags, Policy: rec.Policy, Modified: rec.Modified,
		RuntimeUpdateOn: rec.RuntimeUpdateOn, RuntimeVersionArn: rec.RuntimeVersionArn,
		LastVersion: rec.LastVersion, source: rec.Source, publishPending: rec.PublishPending, Reserved: rec.Reserved}
	for _, l := range rec.Layers {
		f.Config.Layers = append(f.Config.Layers, Layer{Arn: l.Arn, CodeSize: l.Code.Size})
		f.LayerCode = append(f.LayerCode, l.Code)
	}
	return f
}

// recordV0 is a schema-0 record: the layout written before records had their own type, with
// the API's FunctionConfiguration, as it was then, under "config". Its fields are frozen here so
// that a later change of the wire type cannot change how old records read.
type recordV0 struct {
	Config struct {
		FunctionName string `json:"FunctionName"`
		Runtime      string `json:"Runtime"`
		Role         string `json:"Role"`
		Handler      string `json:"Handler"`
		Description  string `json:"Description"`
		Timeout      int    `json:"Timeout"`
		MemorySize   int    `json:"MemorySize"`
		Environment  *struct {
			Variables map[string]string `json:"Variables"`
		} `json:"Environment"`
		TracingConfig *struct {
			Mode string `json:"Mode"`
		} `json:"TracingConfig"`
		RevisionId                 string   `json:"RevisionId"`
		State                      string   `json:"State"`
		StateReason                string   `json:"StateReason"`
		StateReasonCode            string   `json:"StateReasonCode"`
		LastUpdateStatus           string   `json:"LastUpdateStatus"`
		LastUpdateStatusReason     string   `json:"LastUpdateStatusReason"`
		LastUpdateStatusReasonCode string   `json:"LastUpdateStatusReasonCode"`
		PackageType                string   `json:"PackageType"`
		Architectures              []string `json:"Architectures"`
		EphemeralStorage           *struct {
			Size int `json:"Size"`
		} `json:"EphemeralStorage"`
		LoggingConfig *struct {
			LogFormat           string `json:"LogFormat"`
			LogGroup            string `json:"LogGroup"`
			ApplicationLogLevel string `json:"ApplicationLogLevel"`
			SystemLogLevel      string `json:"SystemLogLevel"`
		} `json:"LoggingConfig"`
		Layers []struct {
			Arn string `json:"Arn"`
		} `json:"Layers"`
	} `json:"config"`
	Code      Code              `json:"code"`
	LayerCode []Code            `json:"layerCode"`
	Tags      map[string]string `json:"tags"`
	Modified  time.Time         `json:"modified"`
}

// upgrade is the schema-1 record holding what old holds.
func (old *recordV0) upgrade() functionRecord {
	c := &old.Config
	rec := functionRecord{
		V: recordSchema, Name: c.FunctionName, Runtime: c.Runtime, Role: c.Role, Handler: c.Handler,
		Description: c.Description, Timeout: c.Timeout, MemorySize: c.MemorySize,
		PackageType: c.PackageType, Architectures: c.Architectures,
		State:      recordStatus{c.State, c.StateReason, c.StateReasonCode},
		LastUpdate: recordStatus{c.LastUpdateStatus, c.LastUpdateStatusReason, c.LastUpdateStatusReasonCode},
		RevisionID: c.RevisionId, Modified: old.Modified, Code: old.Code, Tags: old.Tags,
	}
	if c.EphemeralStorage != nil {
		rec.EphemeralStorage = c.EphemeralStorage.Size
	}
	if c.Environment != nil {
		rec.Environment = c.Environment.Variables
	}
	if c.TracingConfig != nil {
		rec.TracingMode = c.TracingConfig.Mode
	}
	if l := c.LoggingConfig; l != nil {
		rec.Logging = &recordLogging{l.LogFormat, l.LogGroup, l.ApplicationLogLevel, l.SystemLogLevel}
	}
	for i, l := range c.Layers {
		var code Code
		if i < len(old.LayerCode) {
			code = old.LayerCode[i]
		}
		rec.Layers = append(rec.Layers, recordLayer{Arn: l.Arn, Code: code})
	}
	return rec
}
