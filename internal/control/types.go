package control

import (
	"encoding/json"
	"maps"
	"slices"
	"time"
)

// LastModifiedLayout is how Lambda prints LastModified: "2019-09-24T18:56:42.365+0000".
const LastModifiedLayout = "2006-01-02T15:04:05.000-0700"

// Values of FunctionConfiguration's enumerated fields, as the Lambda API model spells them.
const (
	StatePending  = "Pending"
	StateActive   = "Active"
	StateInactive = "Inactive"
	StateFailed   = "Failed"

	UpdateSuccessful = "Successful"
	UpdateFailed     = "Failed"
	UpdateInProgress = "InProgress"

	ReasonCreating      = "Creating"
	ReasonInternalError = "InternalError"

	PackageTypeZip = "Zip"
	ArchX8664      = "x86_64"
	ArchARM64      = "arm64"
	TracingPass    = "PassThrough"
	TracingActive  = "Active"
	LogFormatText  = "Text"

	// SnapStart.ApplyOn values and SnapStart.OptimizationStatus values.
	SnapStartNone      = "None"
	SnapStartPublished = "PublishedVersions"
	SnapStartOn        = "On"
	SnapStartOff       = "Off"

	LogFormatJSON = "JSON"

	// LatestVersion is the version every function has: the one its updates change.
	LatestVersion = "$LATEST"
)

// FunctionConfiguration is Lambda's FunctionConfiguration shape, with its JSON field names.
type FunctionConfiguration struct {
	FunctionName               string                `json:"FunctionName"`
	FunctionArn                string                `json:"FunctionArn"`
	Runtime                    string                `json:"Runtime,omitempty"`
	Role                       string                `json:"Role"`
	Handler                    string                `json:"Handler,omitempty"`
	CodeSize                   int64                 `json:"CodeSize"`
	Description                string                `json:"Description"`
	Timeout                    int                   `json:"Timeout"`
	MemorySize                 int                   `json:"MemorySize"`
	LastModified               string                `json:"LastModified"`
	CodeSha256                 string                `json:"CodeSha256"`
	Version                    string                `json:"Version"`
	Environment                *EnvironmentResponse  `json:"Environment,omitempty"`
	TracingConfig              *TracingConfig        `json:"TracingConfig,omitempty"`
	DeadLetterConfig           *DeadLetterConfig     `json:"DeadLetterConfig,omitempty"`
	RevisionId                 string                `json:"RevisionId"`
	Layers                     []Layer               `json:"Layers,omitempty"`
	State                      string                `json:"State,omitempty"`
	StateReason                string                `json:"StateReason,omitempty"`
	StateReasonCode            string                `json:"StateReasonCode,omitempty"`
	LastUpdateStatus           string                `json:"LastUpdateStatus,omitempty"`
	LastUpdateStatusReason     string                `json:"LastUpdateStatusReason,omitempty"`
	LastUpdateStatusReasonCode string                `json:"LastUpdateStatusReasonCode,omitempty"`
	PackageType                string                `json:"PackageType"`
	Architectures              []string              `json:"Architectures"`
	EphemeralStorage           *EphemeralStorage     `json:"EphemeralStorage,omitempty"`
	SnapStart                  *SnapStartResponse    `json:"SnapStart,omitempty"`
	LoggingConfig              *LoggingConfig        `json:"LoggingConfig,omitempty"`
	RuntimeVersionConfig       *RuntimeVersionConfig `json:"RuntimeVersionConfig,omitempty"`
}

// EnvironmentResponse is a function's environment as Lambda returns it.
type EnvironmentResponse struct {
	Variables map[string]string `json:"Variables"`
}

// TracingConfig is Lambda's TracingConfig (and TracingConfigResponse).
type TracingConfig struct {
	Mode string `json:"Mode,omitempty"`
}

// DeadLetterConfig is Lambda's DeadLetterConfig: where asynchronous events that failed for good
// are sent. On Ember the target is a NATS subject (arn:aws:nats:REGION:ACCOUNT:subject:SUBJECT).
type DeadLetterConfig struct {
	TargetArn string `json:"TargetArn,omitempty"`
}

// EphemeralStorage is the size of /tmp in MB.
type EphemeralStorage struct {
	Size int `json:"Size"`
}

// SnapStartResponse is Lambda's SnapStartResponse. OptimizationStatus is On when ApplyOn is
// PublishedVersions and the server's isolation snapshots initialized sandboxes
// (Config.SnapStart); Ember has no published versions yet, so the function's first init is
// the one snapshotted.
type SnapStartResponse struct {
	ApplyOn            string `json:"ApplyOn"`
	OptimizationStatus string `json:"OptimizationStatus"`
}

// LoggingConfig is Lambda's LoggingConfig.
type LoggingConfig struct {
	LogFormat           string `json:"LogFormat,omitempty"`
	LogGroup            string `json:"LogGroup,omitempty"`
	ApplicationLogLevel string `json:"ApplicationLogLevel,omitempty"`
	SystemLogLevel      string `json:"SystemLogLevel,omitempty"`
}

// RuntimeVersionConfig names the runtime build a function runs on.
type RuntimeVersionConfig struct {
	RuntimeVersionArn string `json:"RuntimeVersionArn"`
}

// Environment is the Environment member of a request.
type Environment struct {
	Variables map[string]string `json:"Variables"`
}

// SnapStart is the SnapStart member of a request.
type SnapStart struct {
	ApplyOn string `json:"ApplyOn"`
}

// FunctionCode is the Code member of CreateFunction. ZipFile is base64 in JSON, as encoding/json
// handles []byte.
type FunctionCode struct {
	ZipFile         []byte `json:"ZipFile,omitempty"`
	S3Bucket        string `json:"S3Bucket,omitempty"`
	S3Key           string `json:"S3Key,omitempty"`
	S3ObjectVersion string `json:"S3ObjectVersion,omitempty"`
	ImageUri        string `json:"ImageUri,omitempty"`
}

// CreateFunctionInput is the body of CreateFunction. Members Ember does not support yet are
// decoded so that using them is an explicit error rather than silently ignored.
type CreateFunctionInput struct {
	FunctionName         string            `json:"FunctionName"`
	Runtime              string            `json:"Runtime"`
	Role                 string            `json:"Role"`
	Handler              string            `json:"Handler"`
	Code                 *FunctionCode     `json:"Code"`
	Description          string            `json:"Description"`
	Timeout              *int              `json:"Timeout"`
	MemorySize           *int              `json:"MemorySize"`
	Publish              bool              `json:"Publish"`
	PackageType          string            `json:"PackageType"`
	Environment          *Environment      `json:"Environment"`
	TracingConfig        *TracingConfig    `json:"TracingConfig"`
	Tags                 map[string]string `json:"Tags"`
	Architectures        []string          `json:"Architectures"`
	EphemeralStorage     *EphemeralStorage `json:"EphemeralStorage"`
	SnapStart            *SnapStart        `json:"SnapStart"`
	LoggingConfig        *LoggingConfig    `json:"LoggingConfig"`
	VpcConfig            json.RawMessage   `json:"VpcConfig"`
	DeadLetterConfig     *DeadLetterConfig `json:"DeadLetterConfig"`
	KMSKeyArn            string            `json:"KMSKeyArn"`
	Layers               []string          `json:"Layers"`
	FileSystemConfigs    json.RawMessage   `json:"FileSystemConfigs"`
	ImageConfig          json.RawMessage   `json:"ImageConfig"`
	CodeSigningConfigArn string            `json:"CodeSigningConfigArn"`
}

// UpdateFunctionCodeInput is the body of UpdateFunctionCode; FunctionName comes from the path.
type UpdateFunctionCodeInput struct {
	FunctionName    string   `json:"-"`
	ZipFile         []byte   `json:"ZipFile"`
	S3Bucket        string   `json:"S3Bucket"`
	S3Key           string   `json:"S3Key"`
	S3ObjectVersion string   `json:"S3ObjectVersion"`
	ImageUri        string   `json:"ImageUri"`
	Publish         bool     `json:"Publish"`
	DryRun          bool     `json:"DryRun"`
	RevisionId      string   `json:"RevisionId"`
	Architectures   []string `json:"Architectures"`
}

// UpdateFunctionConfigurationInput is the body of UpdateFunctionConfiguration; FunctionName
// comes from the path. Nil members are left as they are.
type UpdateFunctionConfigurationInput struct {
	FunctionName      string            `json:"-"`
	Role              *string           `json:"Role"`
	Handler           *string           `json:"Handler"`
	Description       *string           `json:"Description"`
	Timeout           *int              `json:"Timeout"`
	MemorySize        *int              `json:"MemorySize"`
	Environment       *Environment      `json:"Environment"`
	Runtime           *string           `json:"Runtime"`
	TracingConfig     *TracingConfig    `json:"TracingConfig"`
	RevisionId        string            `json:"RevisionId"`
	EphemeralStorage  *EphemeralStorage `json:"EphemeralStorage"`
	SnapStart         *SnapStart        `json:"SnapStart"`
	LoggingConfig     *LoggingConfig    `json:"LoggingConfig"`
	VpcConfig         json.RawMessage   `json:"VpcConfig"`
	DeadLetterConfig  *DeadLetterConfig `json:"DeadLetterConfig"`
	KMSKeyArn         *string           `json:"KMSKeyArn"`
	Layers            []string          `json:"Layers"`
	FileSystemConfigs json.RawMessage   `json:"FileSystemConfigs"`
	ImageConfig       json.RawMessage   `json:"ImageConfig"`
}

// Code is a function's deployment package as the registry records it.
type Code struct {
	// Sha256 is the base64 SHA-256 of the zip, as Lambda prints CodeSha256.
	Sha256 string `json:"sha256"`
	// Size is the zip's size in bytes.
	Size int64 `json:"size"`
	// UnzippedSize is the sum of the sizes of the zip's files.
	UnzippedSize int64 `json:"unzippedSize"`
	// Manifest is the code store's own record of the package, opaque to the registry.
	Manifest json.RawMessage `json:"manifest,omitempty"`
}

// Function is one function version: a function's $LATEST configuration, code and tags, or a
// published version's (Config.Version is its number, Config.FunctionArn its qualified ARN).
// The buckets store it as a functionRecord (record.go), its own versioned type. A *Function
// returned by the registry is shared and must not be modified.
type Function struct {
	Config FunctionConfiguration
	Code   Code
	// LayerCode is the stored archive of each of Config.Layers, in order: kept in the record so
	// the function runs on after a layer version it uses is deleted, as in Lambda.
	LayerCode []Code
	Tags      map[string]string
	// Policy is the resource-based policy's statements (nil without one). Stored and returned,
	// not enforced yet.
	Policy []PolicyStatement
	// RuntimeUpdateOn ("" for Auto) and RuntimeVersionArn are the runtime management config.
	RuntimeUpdateOn, RuntimeVersionArn string
	// Reserved is the function's reserved concurrency, nil when it has none: its invokes then
	// share the account's unreserved concurrency.
	Reserved *int
	// Modified is LastModified as a time.
	Modified time.Time
	// LastVersion is the number of the function's last published (or reserved) version, 0
	// before the first; in a published version's Function it is 0.
	LastVersion int
	// source is a published version's fingerprint of the $LATEST it was published from.
	source string
	// publishPending is the version number a change with Publish reserved until it is ready.
	publishPending int
	// revision is the KV revision the record was read at.
	revision uint64
}

// Name is the function's name.
func (f *Function) Name() string { return f.Config.FunctionName }

// Ready reports whether the function can be invoked: Active, and not mid-update of its code.
func (f *Function) Ready() bool { return f.Config.State == StateActive }

// Env is the function's environment variables (nil when it has none).
func (f *Function) Env() map[string]string {
	if f.Config.Environment == nil {
		return nil
	}
	return f.Config.Environment.Variables
}

// clone is a deep copy of f that an update may modify.
func (f *Function) clone() *Function {
	c := *f
	c.Config.Architectures = append([]string(nil), f.Config.Architectures...)
	c.Config.Layers = slices.Clone(f.Config.Layers)
	c.LayerCode = slices.Clone(f.LayerCode)
	c.Policy = slices.Clone(f.Policy)
	if f.Config.Environment != nil {
		env := &EnvironmentResponse{Variables: maps.Clone(f.Config.Environment.Variables)}
		if env.Variables == nil {
			env.Variables = map[string]string{}
		}
		c.Config.Environment = env
	}
	c.Config.TracingConfig = clonePtr(f.Config.TracingConfig)
	c.Config.DeadLetterConfig = clonePtr(f.Config.DeadLetterConfig)
	c.Config.EphemeralStorage = clonePtr(f.Config.EphemeralStorage)
	c.Config.SnapStart = clonePtr(f.Config.SnapStart)
	c.Config.LoggingConfig = clonePtr(f.Config.LoggingConfig)
	c.Config.RuntimeVersionConfig = clonePtr(f.Config.RuntimeVersionConfig)
	c.Tags = maps.Clone(f.Tags)
	return &c
}

// clonePtr is a copy of *p that shares nothing with it at the top level, or nil for nil.
func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	c := *p
	return &c
}
