package control

import "testing"

func TestACloneSharesNothingAnUpdateMayChange(t *testing.T) {
	f := &Function{Tags: map[string]string{"k": "v"}}
	f.Config.Environment = &EnvironmentResponse{Variables: map[string]string{"A": "1"}}
	f.Config.TracingConfig = &TracingConfig{Mode: "PassThrough"}
	f.Config.EphemeralStorage = &EphemeralStorage{Size: 512}
	f.Config.RuntimeVersionConfig = &RuntimeVersionConfig{RuntimeVersionArn: "arn:1"}
	c := f.clone()
	c.Tags["k"] = "changed"
	c.Config.Environment.Variables["A"] = "changed"
	c.Config.TracingConfig.Mode = "Active"
	c.Config.EphemeralStorage.Size = 1024
	c.Config.RuntimeVersionConfig.RuntimeVersionArn = "arn:2"
	if f.Tags["k"] != "v" || f.Config.Environment.Variables["A"] != "1" || f.Config.TracingConfig.Mode != "PassThrough" ||
		f.Config.EphemeralStorage.Size != 512 || f.Config.RuntimeVersionConfig.RuntimeVersionArn != "arn:1" {
		t.Errorf("changing the clone changed the original: %+v", f.Config)
	}
	if c.Config.DeadLetterConfig != nil || c.Config.SnapStart != nil {
		t.Errorf("the clone has settings the original has not: %+v", c.Config)
	}
	empty := (&Function{Config: FunctionConfiguration{Environment: &EnvironmentResponse{}}}).clone()
	if empty.Config.Environment.Variables == nil || empty.Tags != nil {
		t.Errorf("an empty environment clones to %+v and no tags to %v", empty.Config.Environment, empty.Tags)
	}
}
