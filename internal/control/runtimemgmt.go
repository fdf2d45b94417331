package control

import (
	"context"
	"regexp"

	"github.com/ember-serverless/ember/internal/lambdaerr"
)

// RuntimeManagementConfig is Lambda's runtime update mode of a function (Get and Put
// RuntimeManagementConfig's output). It is stored with the function; Ember runs the one runtime
// version it has whatever the mode.
type RuntimeManagementConfig struct {
	UpdateRuntimeOn   string `json:"UpdateRuntimeOn"`
	RuntimeVersionArn string `json:"RuntimeVersionArn,omitempty"`
	FunctionArn       string `json:"FunctionArn"`
}

// UpdateRuntimeOn values.
const (
	RuntimeUpdateAuto           = "Auto"
	RuntimeUpdateFunctionUpdate = "FunctionUpdate"
	RuntimeUpdateManual         = "Manual"
)

var runtimeVersionARNPattern = regexp.MustCompile(`^arn:(aws[a-zA-Z-]*):lambda:[a-z]{2}((-gov)|(-iso(b?)))?-[a-z]+-\d{1}::runtime:.+$`)

func (r *Registry) runtimeManagement(f *Function) *RuntimeManagementConfig {
	c := &RuntimeManagementConfig{UpdateRuntimeOn: f.RuntimeUpdateOn, RuntimeVersionArn: f.RuntimeVersionArn, FunctionArn: f.Config.FunctionArn}
	if c.UpdateRuntimeOn == "" {
		c.UpdateRuntimeOn = RuntimeUpdateAuto
	}
	return c
}

// runtimeTarget parses the FunctionName and Qualifier of a runtime management operation: the
// function, and the published version it names ("" for $LATEST). As on Lambda, the qualifier
// is $LATEST or a version number; an alias names no version of its own and is not found.
func (r *Registry) runtimeTarget(nameOrARN, qualifier string) (name, v string, err error) {
	name, q, err := r.cfg.ParseQualifiedName(nameOrARN, qualifier, MaxFunctionNameLen)
	if err != nil {
		return "", "", err
	}
	switch {
	case q == "" || q == LatestVersion:
		if _, ok := r.Lookup(name); !ok {
			return "", "", r.notFound(name, "")
		}
		return name, "", nil
	case isVersionNumber(q):
		if _, ok := r.Version(name, q); !ok {
			return "", "", r.notFound(name, q)
		}
		return name, q, nil
	}
	return "", "", r.notFound(name, q)
}

// GetRuntimeManagementConfig is the runtime update mode (Auto unless set) of the function's
// $LATEST or of one of its published versions.
func (r *Registry) GetRuntimeManagementConfig(nameOrARN, qualifier string) (*RuntimeManagementConfig, error) {
	name, v, err := r.runtimeTarget(nameOrARN, qualifier)
	if err != nil {
		return nil, err
	}
	f, ok := r.Lookup(name)
	if v != "" {
		f, ok = r.Version(name, v)
	}
	if !ok {
		return nil, r.notFound(name, v)
	}
	return r.runtimeManagement(f), nil
}

// PutRuntimeManagementConfig sets the function's runtime update mode; Manual needs a runtime
// version ARN and the other modes refuse one, as on Lambda.
func (r *Registry) PutRuntimeManagementConfig(ctx context.Context, nameOrARN, qualifier, updateOn, versionARN string) (*RuntimeManagementConfig, error) {
	name, v, err := r.runtimeTarget(nameOrARN, qualifier)
	if err != nil {
		return nil, err
	}
	switch updateOn {
	case "":
		return nil, nullError("updateRuntimeOn")
	case RuntimeUpdateAuto, RuntimeUpdateFunctionUpdate, RuntimeUpdateManual:
	default:
		return nil, constraintError(updateOn, "updateRuntimeOn", "Member must satisfy enum value set: [Auto, Manual, FunctionUpdate]")
	}
	if versionARN != "" && !runtimeVersionARNPattern.MatchString(versionARN) {
		return nil, constraintError(versionARN, "runtimeVersionArn",
			"Member must satisfy regular expression pattern: ^arn:(aws[a-zA-Z-]*):lambda:[a-z]{2}((-gov)|(-iso(b?)))?-[a-z]+-\\d{1}::runtime:.+$")
	}
	if updateOn == RuntimeUpdateManual && versionARN == "" {
		return nil, lambdaerr.InvalidParameter("RuntimeVersionArn is required when UpdateRuntimeOn is Manual.")
	}
	if updateOn != RuntimeUpdateManual && versionARN != "" {
		return nil, lambdaerr.InvalidParameter("RuntimeVersionArn can only be provided when UpdateRuntimeOn is Manual.")
	}
	set := func(f *Function) error {
		f.RuntimeUpdateOn, f.RuntimeVersionArn = updateOn, versionARN
		if updateOn == RuntimeUpdateAuto {
			f.RuntimeUpdateOn = ""
		}
		return nil
	}
	var f *Function
	if v == "" {
		f, err = r.update(ctx, name, set)
	} else {
		f, err = r.updateVersionRecord(ctx, name, v, set)
	}
	if err != nil {
		return nil, err
	}
	r.logger.Info("runtime management config set", "function", name, "version", v, "update_runtime_on", updateOn)
	return r.runtimeManagement(f), nil
}
