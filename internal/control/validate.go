package control

import (
	"encoding/json"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/ember-serverless/ember/internal/async"
	"github.com/ember-serverless/ember/internal/lambdaerr"
	"github.com/ember-serverless/ember/internal/limits"
)

// Limits Lambda enforces on a function's configuration.
const (
	MinMemorySize       = 128
	MaxMemorySize       = 10240
	MinTimeout          = 1
	MaxTimeout          = 900
	MinEphemeralStorage = 512
	MaxEphemeralStorage = 10240
	MaxDescriptionLen   = 256
	MaxHandlerLen       = 128
	MaxEnvironmentBytes = 4096
	MaxTags             = 50
	MaxTagKeyLen        = 128
	MaxTagValueLen      = 256
)

// reservedEnvKeys are the environment variables Lambda sets itself and refuses in a function's
// configuration.
var reservedEnvKeys = map[string]bool{
	"_HANDLER": true, "_X_AMZN_TRACE_ID": true, "AWS_DEFAULT_REGION": true, "AWS_REGION": true,
	"AWS_EXECUTION_ENV": true, "AWS_LAMBDA_FUNCTION_NAME": true, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": true,
	"AWS_LAMBDA_FUNCTION_VERSION": true, "AWS_LAMBDA_INITIALIZATION_TYPE": true,
	"AWS_LAMBDA_LOG_GROUP_NAME": true, "AWS_LAMBDA_LOG_STREAM_NAME": true, "AWS_ACCESS_KEY": true,
	"AWS_ACCESS_KEY_ID": true, "AWS_SECRET_ACCESS_KEY": true, "AWS_SESSION_TOKEN": true,
	"AWS_LAMBDA_RUNTIME_API": true, "LAMBDA_TASK_ROOT": true, "LAMBDA_RUNTIME_DIR": true,
}

// validateConfig checks a function's configuration after a create or an update was applied to
// it, with Lambda's messages; its runtime must be one of rts.
func validateConfig(c *FunctionConfiguration, rts RuntimeTable) error {
	if c.Role == "" {
		return lambdaerr.InvalidParameter("1 validation error detected: Value null at 'role' failed to satisfy constraint: Member must not be null")
	}
	if !validRole(c.Role) {
		return constraintError(c.Role, "role", `Member must satisfy regular expression pattern: arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+`)
	}
	if c.Runtime == "" {
		return lambdaerr.InvalidParameter("Runtime and Handler are mandatory parameters for functions created with deployment packages.")
	}
	if err := validateRuntime(c.Runtime, rts); err != nil {
		return err
	}
	if len(c.Handler) > MaxHandlerLen {
		return constraintError(c.Handler, "handler", "Member must have length less than or equal to 128")
	}
	if c.Handler != "" && strings.ContainsAny(c.Handler, " \t\n\r\f\v") {
		return constraintError(c.Handler, "handler", `Member must satisfy regular expression pattern: [^\s]+`)
	}
	if strings.IndexByte(c.Handler, 0) >= 0 {
		// The handler reaches the runtime as _HANDLER, which no process environment can hold
		// with a NUL in it; the value is not echoed, since it cannot be printed as it is.
		return lambdaerr.InvalidParameter("1 validation error detected: Value at 'handler' failed to satisfy constraint: " +
			"Member must not contain a NUL character")
	}
	if len(c.Description) > MaxDescriptionLen {
		return constraintError(c.Description, "description", "Member must have length less than or equal to 256")
	}
	if err := validateRange(c.MemorySize, "memorySize", MinMemorySize, MaxMemorySize); err != nil {
		return err
	}
	if c.Timeout > MaxTimeout {
		// The model bounds Timeout below only; the 900 seconds are Lambda's.
		return lambdaConstraintError(strconv.Itoa(c.Timeout), "timeout", "Member must have value less than or equal to "+strconv.Itoa(MaxTimeout))
	}
	if err := validateRange(c.Timeout, "timeout", MinTimeout, MaxTimeout); err != nil {
		return err
	}
	if c.EphemeralStorage != nil {
		if err := validateRange(c.EphemeralStorage.Size, "ephemeralStorage.size", MinEphemeralStorage, MaxEphemeralStorage); err != nil {
			return err
		}
	}
	if c.Environment != nil {
		if err := validateEnvironment(c.Environment.Variables); err != nil {
			return err
		}
	}
	if c.TracingConfig != nil {
		switch c.TracingConfig.Mode {
		case TracingPass, TracingActive:
		default:
			return constraintError(c.TracingConfig.Mode, "tracingConfig.mode", "Member must satisfy enum value set: [Active, PassThrough]")
		}
	}
	if err := validateArchitectures(c.Architectures); err != nil {
		return err
	}
	switch c.PackageType {
	case PackageTypeZip:
	case "Image":
		return lambdaerr.InvalidParameter("PackageType Image is not supported by this server; use Zip.")
	default:
		return constraintError(c.PackageType, "packageType", "Member must satisfy enum value set: [Image, Zip]")
	}
	if c.LoggingConfig != nil {
		if err := validateLogging(c.LoggingConfig); err != nil {
			return err
		}
	}
	return nil
}

func validateRange(v int, member string, lo, hi int) error {
	if v < lo {
		return constraintError(strconv.Itoa(v), member, "Member must have value greater than or equal to "+strconv.Itoa(lo))
	}
	if v > hi {
		return constraintError(strconv.Itoa(v), member, "Member must have value less than or equal to "+strconv.Itoa(hi))
	}
	return nil
}

// validRole matches arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+.
func validRole(r string) bool {
	rest, ok := strings.CutPrefix(r, "arn:")
	if !ok {
		return false
	}
	partition, rest, ok := strings.Cut(rest, ":")
	if !ok || (partition != "" && !validPartition(partition)) {
		return false
	}
	rest, ok = strings.CutPrefix(rest, "iam::")
	if !ok || len(rest) < 13 || !limits.ValidAccountID(rest[:12]) || rest[12] != ':' {
		return false
	}
	rest, ok = strings.CutPrefix(rest[13:], "role")
	if !ok {
		return false
	}
	rest = strings.TrimPrefix(rest, "/")
	if rest == "" {
		return false
	}
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		if !isLetter(c) && !isDigit(c) && !strings.ContainsRune("_+=,.@-/", rune(c)) {
			return false
		}
	}
	return true
}

func validateEnvironment(vars map[string]string) error {
	var reserved []string
	for k := range vars {
		if !validEnvKey(k) {
			return lambdaerr.InvalidParameter("1 validation error detected: Value at 'environment.variables' failed to satisfy constraint: " +
				"Map keys must satisfy constraint: [Member must satisfy regular expression pattern: [a-zA-Z]([a-zA-Z0-9_])+]")
		}
		if reservedEnvKeys[k] {
			reserved = append(reserved, k)
		}
	}
	if bad := unexecutableValues(vars); len(bad) > 0 {
		return lambdaerr.InvalidParameter("Lambda was unable to configure your environment variables because the environment variables "+
			"you have provided contain a NUL character, which a process environment cannot hold. Keys with such values: %s",
			strings.Join(bad, ", "))
	}
	if len(reserved) > 0 {
		sort.Strings(reserved)
		return lambdaerr.InvalidParameter("Lambda was unable to configure your environment variables because the environment variables "+
			"you have provided contains reserved keys that are currently not supported for modification. Reserved keys used in this request: %s",
			strings.Join(reserved, ", "))
	}
	measured, err := json.Marshal(vars)
	if err == nil && len(measured) > MaxEnvironmentBytes {
		return lambdaerr.InvalidParameter("Lambda was unable to configure your environment variables because the environment variables "+
			"you have provided exceeded the 4KB limit. String measured: %s", measured)
	}
	return nil
}

// unexecutableValues is, sorted, the keys whose values exec would refuse: a NUL ends a C
// string, so such a variable could never reach the runtime and every invoke would fail.
func unexecutableValues(vars map[string]string) []string {
	var bad []string
	for k, v := range vars {
		if strings.IndexByte(v, 0) >= 0 {
			bad = append(bad, k)
		}
	}
	sort.Strings(bad)
	return bad
}

// validEnvKey matches [a-zA-Z]([a-zA-Z0-9_])+.
func validEnvKey(k string) bool {
	if len(k) < 2 || !isLetter(k[0]) {
		return false
	}
	for i := 1; i < len(k); i++ {
		if !isLetter(k[i]) && !isDigit(k[i]) && k[i] != '_' {
			return false
		}
	}
	return true
}

func validateArchitectures(archs []string) error {
	if len(archs) != 1 {
		return constraintError("["+strings.Join(archs, ", ")+"]", "architectures",
			"Member must have length less than or equal to 1 and greater than or equal to 1")
	}
	switch archs[0] {
	case ArchX8664:
		return nil
	case ArchARM64:
		return lambdaerr.InvalidParameter("Architecture arm64 is not supported by this server; use x86_64.")
	default:
		return constraintError("["+archs[0]+"]", "architectures",
			"Member must satisfy constraint: [Member must satisfy enum value set: [x86_64, arm64]]")
	}
}

func validateLogging(l *LoggingConfig) error {
	switch l.LogFormat {
	case LogFormatText, LogFormatJSON:
	default:
		return constraintError(l.LogFormat, "loggingConfig.logFormat", "Member must satisfy enum value set: [JSON, Text]")
	}
	if len(l.LogGroup) < 1 || len(l.LogGroup) > 512 {
		return constraintError(l.LogGroup, "loggingConfig.logGroup", "Member must have length less than or equal to 512 and greater than or equal to 1")
	}
	for i := 0; i < len(l.LogGroup); i++ {
		c := l.LogGroup[i]
		if !isLetter(c) && !isDigit(c) && !strings.ContainsRune(".-_/#", rune(c)) {
			return constraintError(l.LogGroup, "loggingConfig.logGroup", `Member must satisfy regular expression pattern: [\.\-_/#A-Za-z0-9]+`)
		}
	}
	if l.LogFormat == LogFormatText && (l.ApplicationLogLevel != "" || l.SystemLogLevel != "") {
		return lambdaerr.InvalidParameter("ApplicationLogLevel and SystemLogLevel can only be set when LogFormat is JSON.")
	}
	switch l.ApplicationLogLevel {
	case "", "TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL":
	default:
		return constraintError(l.ApplicationLogLevel, "loggingConfig.applicationLogLevel",
			"Member must satisfy enum value set: [TRACE, DEBUG, INFO, WARN, ERROR, FATAL]")
	}
	switch l.SystemLogLevel {
	case "", "DEBUG", "INFO", "WARN":
	default:
		return constraintError(l.SystemLogLevel, "loggingConfig.systemLogLevel", "Member must satisfy enum value set: [DEBUG, INFO, WARN]")
	}
	return nil
}

func validateTags(tags map[string]string) error {
	if len(tags) > MaxTags {
		return lambdaerr.InvalidParameter("Number of tags exceeds resource tag limit.")
	}
	for k, v := range tags {
		if err := validateTagKey(k); err != nil {
			return err
		}
		if utf8.RuneCountInString(v) > MaxTagValueLen {
			return lambdaConstraintError(v, "tags.value", "Member must have length less than or equal to 256")
		}
	}
	return nil
}

// validateTagKey checks a tag key as Lambda does: 1 to 128 characters, not starting with the
// "aws:" prefix AWS reserves.
func validateTagKey(k string) error {
	switch n := utf8.RuneCountInString(k); {
	case n < 1:
		return lambdaConstraintError(k, "tags.key", "Member must have length greater than or equal to 1")
	case n > MaxTagKeyLen:
		return lambdaConstraintError(k, "tags.key", "Member must have length less than or equal to 128")
	}
	if strings.HasPrefix(strings.ToLower(k), "aws:") {
		return lambdaerr.InvalidParameter("Tag keys cannot start with 'aws:': %s", k)
	}
	return nil
}

// unsupported reports request members this server does not implement yet, so that using them is
// an explicit error and never silently ignored.
type unsupported struct {
	vpc, fs, image json.RawMessage
	kms, csc       string
	snapStart      *SnapStart
}

func (u unsupported) check() error {
	if present(u.vpc) {
		var v struct{ SubnetIds, SecurityGroupIds []string }
		if json.Unmarshal(u.vpc, &v) != nil || len(v.SubnetIds) > 0 || len(v.SecurityGroupIds) > 0 {
			return lambdaerr.InvalidParameter("VpcConfig is not supported by this server.")
		}
	}
	if present(u.fs) && string(u.fs) != "[]" {
		return lambdaerr.InvalidParameter("FileSystemConfigs are not supported by this server.")
	}
	if present(u.image) && string(u.image) != "{}" {
		return lambdaerr.InvalidParameter("ImageConfig is not supported by this server; use a Zip package.")
	}
	if u.kms != "" {
		return lambdaerr.InvalidParameter("KMSKeyArn is not supported by this server.")
	}
	if u.csc != "" {
		return lambdaerr.InvalidParameter("CodeSigningConfigArn is not supported by this server.")
	}
	if u.snapStart != nil {
		switch u.snapStart.ApplyOn {
		case SnapStartNone, SnapStartPublished:
		default:
			return constraintError(u.snapStart.ApplyOn, "snapStart.applyOn", "Member must satisfy enum value set: [PublishedVersions, None]")
		}
	}
	return nil
}

func present(raw json.RawMessage) bool {
	s := strings.TrimSpace(string(raw))
	return s != "" && s != "null"
}

// resourceArnPattern is the API model's pattern for DeadLetterConfig.TargetArn.
const resourceArnPattern = `(arn:(aws[a-zA-Z-]*)?:[a-z0-9-.]+:.*)|()`

// checkDeadLetter checks a DeadLetterConfig: Lambda's pattern, then a target Ember can deliver
// to, a NATS subject in its region and account (there is no SQS or SNS here).
func (c Config) checkDeadLetter(d *DeadLetterConfig) error {
	if d == nil || d.TargetArn == "" {
		return nil
	}
	if !strings.HasPrefix(d.TargetArn, "arn:") {
		return constraintError(d.TargetArn, "deadLetterConfig.targetArn", "Member must satisfy regular expression pattern: "+resourceArnPattern)
	}
	t, err := async.ARNs{Region: c.Region, AccountID: c.AccountID}.ParseTarget(d.TargetArn, "DeadLetterConfig TargetArn")
	if err != nil {
		return err
	}
	if t.Subject == "" {
		return lambdaerr.InvalidParameter("The DeadLetterConfig TargetArn %s must be a NATS subject (arn:aws:nats:%s:%s:subject:SUBJECT): "+
			"a dead-letter queue is a queue, not a function.", d.TargetArn, c.Region, c.AccountID)
	}
	return nil
}
