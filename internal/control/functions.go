package control

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/ember-serverless/ember/internal/lambdaerr"
	"github.com/ember-serverless/ember/internal/limits"
	"github.com/nats-io/nats.go/jetstream"
)

// Create validates and stores a new function. It returns the function as stored: Pending until
// its code is ready.
func (r *Registry) Create(ctx context.Context, in *CreateFunctionInput) (*Function, error) {
	name, qualifier, err := r.cfg.ParseFunctionName(in.FunctionName, MaxFunctionNameLen)
	if err != nil {
		return nil, err
	}
	if qualifier != "" {
		return nil, lambdaerr.InvalidParameter("Unqualified function name expected: %s", in.FunctionName)
	}
	if in.Code == nil {
		return nil, lambdaerr.InvalidParameter("1 validation error detected: Value null at 'code' failed to satisfy constraint: Member must not be null")
	}
	if err := checkSource(in.Code.ZipFile, in.Code.S3Bucket, in.Code.S3Key, in.Code.S3ObjectVersion, in.Code.ImageUri); err != nil {
		return nil, err
	}
	err = unsupported{vpc: in.VpcConfig, fs: in.FileSystemConfigs, image: in.ImageConfig,
		kms: in.KMSKeyArn, csc: in.CodeSigningConfigArn, snapStart: in.SnapStart}.check()
	if err != nil {
		return nil, err
	}
	if err := r.cfg.checkDeadLetter(in.DeadLetterConfig); err != nil {
		return nil, err
	}
	if err := validateTags(in.Tags); err != nil {
		return nil, err
	}
	f := r.newFunction(name, in)
	if err := validateConfig(&f.Config, r.cfg.Runtimes); err != nil {
		return nil, err
	}
	if f.Config.Layers, f.LayerCode, err = r.layers.resolveFunctionLayers(in.Layers); err != nil {
		return nil, err
	}
	if _, err := r.kv.Get(ctx, name); err == nil {
		return nil, r.exists(name)
	} else if !errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, fmt.Errorf("control: read %s: %w", name, err)
	}
	code, err := r.storeCode(ctx, in.Code.ZipFile)
	if err != nil {
		return nil, err
	}
	if err := checkCodeAndLayersSize(code, f.LayerCode); err != nil {
		return nil, err
	}
	f.Code = code
	f.Config.CodeSha256, f.Config.CodeSize = code.Sha256, code.Size
	if in.Publish {
		f.LastVersion, f.publishPending = 1, 1
	}
	// Versions and aliases left by a function of the same name whose delete was cut short
	// must not become this one's.
	if err := r.dropQualifiers(ctx, name); err != nil {
		return nil, err
	}
	data, err := encodeRecord(f)
	if err != nil {
		return nil, fmt.Errorf("control: encode %s: %w", name, err)
	}
	rev, err := r.kv.Create(ctx, name, data)
	if errors.Is(err, jetstream.ErrKeyExists) {
		return nil, r.exists(name)
	}
	if err != nil {
		return nil, fmt.Errorf("control: store %s: %w", name, err)
	}
	f.revision = rev
	r.apply(name, f, rev)
	r.logger.Info("function created", "function", name, "code_sha256", code.Sha256)
	r.afterWrite(ctx, f)
	return f.asPending(r), nil
}

func (r *Registry) exists(name string) error {
	return lambdaerr.New(lambdaerr.ResourceConflict, "Function already exist: %s", name)
}

func (r *Registry) newFunction(name string, in *CreateFunctionInput) *Function {
	now := r.now().UTC()
	c := FunctionConfiguration{
		FunctionName:     name,
		FunctionArn:      r.cfg.ARN(name),
		Runtime:          in.Runtime,
		Role:             in.Role,
		Handler:          in.Handler,
		Description:      in.Description,
		Timeout:          limits.DefaultTimeout,
		MemorySize:       limits.DefaultMemorySize,
		LastModified:     now.Format(LastModifiedLayout),
		Version:          LatestVersion,
		TracingConfig:    &TracingConfig{Mode: TracingPass},
		RevisionId:       newUUID(),
		State:            StatePending,
		StateReason:      msgCreating,
		StateReasonCode:  ReasonCreating,
		PackageType:      PackageTypeZip,
		Architectures:    []string{ArchX8664},
		EphemeralStorage: &EphemeralStorage{Size: limits.DefaultEphemeralStorageMB},
		SnapStart:        r.snapStart(SnapStartNone),
		LoggingConfig:    &LoggingConfig{LogFormat: LogFormatText, LogGroup: "/aws/lambda/" + name},
	}
	if in.Timeout != nil {
		c.Timeout = *in.Timeout
	}
	if in.MemorySize != nil {
		c.MemorySize = *in.MemorySize
	}
	if in.PackageType != "" {
		c.PackageType = in.PackageType
	}
	if in.Architectures != nil {
		c.Architectures = append([]string(nil), in.Architectures...)
	}
	if in.EphemeralStorage != nil {
		c.EphemeralStorage = &EphemeralStorage{Size: in.EphemeralStorage.Size}
	}
	if in.TracingConfig != nil && in.TracingConfig.Mode != "" {
		c.TracingConfig = &TracingConfig{Mode: in.TracingConfig.Mode}
	}
	if in.SnapStart != nil {
		c.SnapStart = r.snapStart(in.SnapStart.ApplyOn)
	}
	setEnvironment(&c, in.Environment)
	if in.DeadLetterConfig != nil && in.DeadLetterConfig.TargetArn != "" {
		c.DeadLetterConfig = &DeadLetterConfig{TargetArn: in.DeadLetterConfig.TargetArn}
	}
	mergeLogging(c.LoggingConfig, in.LoggingConfig)
	c.RuntimeVersionConfig = r.runtimeVersion(c.Runtime)
	var tags map[string]string
	if len(in.Tags) > 0 {
		tags = make(map[string]string, len(in.Tags))
		for k, v := range in.Tags {
			tags[k] = v
		}
	}
	return &Function{Config: c, Tags: tags, Modified: now}
}

func setEnvironment(c *FunctionConfiguration, env *Environment) {
	if env == nil {
		return
	}
	if len(env.Variables) == 0 {
		c.Environment = nil
		return
	}
	vars := make(map[string]string, len(env.Variables))
	for k, v := range env.Variables {
		vars[k] = v
	}
	c.Environment = &EnvironmentResponse{Variables: vars}
}

func mergeLogging(dst, in *LoggingConfig) {
	if in == nil {
		return
	}
	if in.LogFormat != "" {
		dst.LogFormat = in.LogFormat
	}
	if in.LogGroup != "" {
		dst.LogGroup = in.LogGroup
	}
	if in.ApplicationLogLevel != "" {
		dst.ApplicationLogLevel = in.ApplicationLogLevel
	}
	if in.SystemLogLevel != "" {
		dst.SystemLogLevel = in.SystemLogLevel
	}
	if dst.LogFormat == LogFormatJSON {
		if dst.ApplicationLogLevel == "" {
			dst.ApplicationLogLevel = "INFO"
		}
		if dst.SystemLogLevel == "" {
			dst.SystemLogLevel = "INFO"
		}
	}
}

// runtimeVersion is a stable runtime version ARN for a runtime, as Lambda reports one.
// snapStart is the SnapStart a function with that ApplyOn reports ("" is None).
func (r *Registry) snapStart(applyOn string) *SnapStartResponse {
	if applyOn == "" {
		applyOn = SnapStartNone
	}
	status := SnapStartOff
	if applyOn == SnapStartPublished && r.cfg.SnapStart {
		status = SnapStartOn
	}
	return &SnapStartResponse{ApplyOn: applyOn, OptimizationStatus: status}
}

func (r *Registry) runtimeVersion(runtime string) *RuntimeVersionConfig {
	if runtime == "" {
		return nil
	}
	sum := sha256.Sum256([]byte("ember-runtime:" + runtime))
	return &RuntimeVersionConfig{RuntimeVersionArn: "arn:aws:lambda:" + r.cfg.Region + "::runtime:" + hex.EncodeToString(sum[:])}
}

// checkSource checks that a package is given as a zip, the only source this server takes.
func checkSource(zip []byte, s3Bucket, s3Key, s3Version, imageURI string) error {
	if s3Bucket != "" || s3Key != "" || s3Version != "" {
		return lambdaerr.InvalidParameter("S3 code locations are not supported by this server; upload the package as ZipFile instead.")
	}
	if imageURI != "" {
		return lambdaerr.InvalidParameter("Container images are not supported by this server; upload a Zip package as ZipFile instead.")
	}
	if len(zip) == 0 {
		return lambdaerr.InvalidParameter("Please provide a source for function code.")
	}
	if len(zip) > limits.MaxZippedSize {
		return &lambdaerr.Error{Type: "RequestEntityTooLargeException", Status: 413,
			Message: fmt.Sprintf("Zipped size must be smaller than %d bytes", limits.MaxZippedSize)}
	}
	return nil
}

func (r *Registry) storeCode(ctx context.Context, zip []byte) (Code, error) {
	stored, err := r.code.Put(ctx, zip)
	if err != nil {
		return Code{}, fmt.Errorf("control: store code: %w", err)
	}
	sum := sha256.Sum256(zip)
	return Code{
		Sha256:       base64.StdEncoding.EncodeToString(sum[:]),
		Size:         int64(len(zip)),
		UnzippedSize: stored.UnzippedSize,
		Manifest:     stored.Manifest,
	}, nil
}

// UpdateCode replaces a function's code. It returns the function with LastUpdateStatus
// InProgress (or, for DryRun, what the update would store, storing nothing).
func (r *Registry) UpdateCode(ctx context.Context, in *UpdateFunctionCodeInput) (*Function, error) {
	name, err := r.parseUnqualified(in.FunctionName)
	if err != nil {
		return nil, err
	}
	if err := checkSource(in.ZipFile, in.S3Bucket, in.S3Key, in.S3ObjectVersion, in.ImageUri); err != nil {
		return nil, err
	}
	if in.Architectures != nil {
		if err := validateArchitectures(in.Architectures); err != nil {
			return nil, err
		}
	}
	cur, ok := r.Lookup(name)
	if !ok {
		return nil, r.notFound(name, "")
	}
	if err := r.checkUpdatable(cur, in.RevisionId); err != nil {
		return nil, err
	}
	if in.DryRun {
		f := cur.clone()
		sum := sha256.Sum256(in.ZipFile)
		f.Config.CodeSha256, f.Config.CodeSize = base64.StdEncoding.EncodeToString(sum[:]), int64(len(in.ZipFile))
		return f, nil
	}
	code, err := r.storeCode(ctx, in.ZipFile)
	if err != nil {
		return nil, err
	}
	f, err := r.update(ctx, name, func(f *Function) error {
		if err := r.checkUpdatable(f, in.RevisionId); err != nil {
			return err
		}
		if err := checkCodeAndLayersSize(code, f.LayerCode); err != nil {
			return err
		}
		f.Code = code
		f.Config.CodeSha256, f.Config.CodeSize = code.Sha256, code.Size
		if in.Architectures != nil {
			f.Config.Architectures = append([]string(nil), in.Architectures...)
		}
		if in.Publish {
			f.LastVersion++
			f.publishPending = f.LastVersion
		}
		r.startUpdate(f)
		return nil
	})
	if err != nil {
		return nil, err
	}
	r.logger.Info("function code updated", "function", name, "code_sha256", code.Sha256)
	r.afterWrite(ctx, f)
	return f.asPending(r), nil
}

// UpdateConfiguration changes the members of a function's configuration that in sets. It returns
// the function with LastUpdateStatus InProgress.
func (r *Registry) UpdateConfiguration(ctx context.Context, in *UpdateFunctionConfigurationInput) (*Function, error) {
	name, err := r.parseUnqualified(in.FunctionName)
	if err != nil {
		return nil, err
	}
	kms := ""
	if in.KMSKeyArn != nil {
		kms = *in.KMSKeyArn
	}
	err = unsupported{vpc: in.VpcConfig, fs: in.FileSystemConfigs, image: in.ImageConfig,
		kms: kms, snapStart: in.SnapStart}.check()
	if err != nil {
		return nil, err
	}
	if err := r.cfg.checkDeadLetter(in.DeadLetterConfig); err != nil {
		return nil, err
	}
	if _, ok := r.Lookup(name); !ok {
		return nil, r.notFound(name, "")
	}
	layers, layerCode, err := r.layers.resolveFunctionLayers(in.Layers)
	if err != nil {
		return nil, err
	}
	f, err := r.update(ctx, name, func(f *Function) error {
		if err := r.checkUpdatable(f, in.RevisionId); err != nil {
			return err
		}
		c := &f.Config
		if in.Role != nil {
			c.Role = *in.Role
		}
		if in.Handler != nil {
			c.Handler = *in.Handler
		}
		if in.Description != nil {
			c.Description = *in.Description
		}
		if in.Timeout != nil {
			c.Timeout = *in.Timeout
		}
		if in.MemorySize != nil {
			c.MemorySize = *in.MemorySize
		}
		if in.Runtime != nil {
			c.Runtime = *in.Runtime
			c.RuntimeVersionConfig = r.runtimeVersion(c.Runtime)
		}
		if in.EphemeralStorage != nil {
			c.EphemeralStorage = &EphemeralStorage{Size: in.EphemeralStorage.Size}
		}
		if in.TracingConfig != nil && in.TracingConfig.Mode != "" {
			c.TracingConfig = &TracingConfig{Mode: in.TracingConfig.Mode}
		}
		if in.SnapStart != nil {
			c.SnapStart = r.snapStart(in.SnapStart.ApplyOn)
		}
		setEnvironment(c, in.Environment)
		if in.DeadLetterConfig != nil {
			// An empty TargetArn removes the dead-letter queue, as on Lambda.
			c.DeadLetterConfig = nil
			if in.DeadLetterConfig.TargetArn != "" {
				c.DeadLetterConfig = &DeadLetterConfig{TargetArn: in.DeadLetterConfig.TargetArn}
			}
		}
		if c.LoggingConfig == nil {
			c.LoggingConfig = &LoggingConfig{LogFormat: LogFormatText, LogGroup: "/aws/lambda/" + name}
		}
		if in.LoggingConfig != nil && in.LoggingConfig.LogFormat == LogFormatText {
			c.LoggingConfig.ApplicationLogLevel, c.LoggingConfig.SystemLogLevel = "", ""
		}
		mergeLogging(c.LoggingConfig, in.LoggingConfig)
		if in.Layers != nil {
			c.Layers, f.LayerCode = layers, layerCode
		}
		if err := validateConfig(c, r.cfg.Runtimes); err != nil {
			return err
		}
		if err := checkCodeAndLayersSize(f.Code, f.LayerCode); err != nil {
			return err
		}
		r.startUpdate(f)
		return nil
	})
	if err != nil {
		return nil, err
	}
	r.logger.Info("function configuration updated", "function", name)
	r.afterWrite(ctx, f)
	return f, nil
}

// parseUnqualified parses the FunctionName of an update: only $LATEST can be updated.
func (r *Registry) parseUnqualified(nameOrARN string) (string, error) {
	name, qualifier, err := r.cfg.ParseFunctionName(nameOrARN, MaxFunctionNameLen)
	if err != nil {
		return "", err
	}
	if qualifier != "" && qualifier != LatestVersion {
		return "", r.notFound(name, qualifier)
	}
	return name, nil
}

// errUnchanged tells update that mutate decided to store nothing.
var errUnchanged = errors.New("unchanged")

// update reads a function's record, applies mutate to a copy and stores it if the record has not
// changed since it was read, retrying on a concurrent change. mutate sees the latest record on
// every attempt, so its checks (RevisionId, update in progress) hold against it.
func (r *Registry) update(ctx context.Context, name string, mutate func(*Function) error) (*Function, error) {
	for range maxCASAttempts {
		e, err := r.kv.Get(ctx, name)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return nil, r.notFound(name, "")
		}
		if err != nil {
			return nil, fmt.Errorf("control: read %s: %w", name, err)
		}
		f, err := r.decodeRecord(e.Value(), e.Revision())
		if err != nil {
			return nil, fmt.Errorf("control: record %s: %w", name, err)
		}
		if err := mutate(f); err != nil {
			return nil, err
		}
		data, err := encodeRecord(f)
		if err != nil {
			return nil, fmt.Errorf("control: encode %s: %w", name, err)
		}
		rev, err := r.kv.Update(ctx, name, data, e.Revision())
		if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("control: store %s: %w", name, err)
		}
		f.revision = rev
		r.apply(name, f, rev)
		return f, nil
	}
	return nil, lambdaerr.New(lambdaerr.ResourceConflict,
		"The operation cannot be performed at this time. An update is in progress for resource: %s", r.cfg.ARN(name))
}

// Delete deletes a function with its versions and aliases, or with a version number as
// qualifier only that version; $LATEST and aliases cannot be deleted this way, as in Lambda.
func (r *Registry) Delete(ctx context.Context, nameOrARN, qualifier string) error {
	name, q, err := r.cfg.ParseQualifiedName(nameOrARN, qualifier, MaxFunctionNameLen)
	if err != nil {
		return err
	}
	switch {
	case q == LatestVersion:
		return lambdaerr.InvalidParameter("$LATEST version cannot be deleted without deleting the function.")
	case isVersionNumber(q):
		return r.deleteVersion(ctx, name, q)
	case q != "":
		if _, ok := r.Lookup(name); !ok {
			return r.notFound(name, "")
		}
		return lambdaerr.InvalidParameter("Deletion of aliases is not supported.")
	}
	for range maxCASAttempts {
		e, err := r.kv.Get(ctx, name)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return r.notFound(name, "")
		}
		if err != nil {
			return fmt.Errorf("control: read %s: %w", name, err)
		}
		err = r.kv.Delete(ctx, name, jetstream.LastRevision(e.Revision()))
		if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			continue
		}
		if err != nil {
			return fmt.Errorf("control: delete %s: %w", name, err)
		}
		// The delete marker's revision is at least one past the one it replaced; the watcher
		// brings the exact one.
		r.apply(name, nil, e.Revision()+1)
		if err := r.dropQualifiers(ctx, name); err != nil {
			// The function is gone; a create of the same name drops what is left.
			r.logger.Warn("deleting a deleted function's versions and aliases", "function", name, "err", err)
		}
		r.logger.Info("function deleted", "function", name)
		return nil
	}
	return lambdaerr.New(lambdaerr.ResourceConflict,
		"The operation cannot be performed at this time. An update is in progress for resource: %s", r.cfg.ARN(name))
}
