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

// GetRuntimeManagementConfig is the function's runtime update mode (Auto unless set).
func (r *Registry) GetRuntimeManagementConfig(nameOrARN, qualifier string) (*RuntimeManagementConfig, error) {
	name, err := r.unqualifiedTarget(nameOrARN, qualifier)
	if err != nil {
		return nil, err
	}
	f, ok := r.Lookup(name)
	if !ok {
		return nil, r.notFound(name, "")
	}
	return r.runtimeManagement(f), nil
}

// PutRuntimeManagementConfig sets the function's runtime update mode; Manual needs a runtime
// version ARN and the other modes refuse one, as on Lambda.
func (r *Registry) PutRuntimeManagementConfig(ctx context.Context, nameOrARN, qualifier, updateOn, versionARN string) (*RuntimeManagementConfig, error) {
	name, err := r.unqualifiedTarget(nameOrARN, qualifier)
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
	f, err := r.update(ctx, name, func(f *Function) error {
		f.RuntimeUpdateOn, f.RuntimeVersionArn = updateOn, versionARN
		if updateOn == RuntimeUpdateAuto {
			f.RuntimeUpdateOn = ""
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	r.logger.Info("runtime management config set", "function", name, "update_runtime_on", updateOn)
	return r.runtimeManagement(f), nil
}
