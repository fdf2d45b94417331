package frontend

import "testing"

func TestTheRuntimeIsToldTheARNTheCallerInvoked(t *testing.T) {
	const fn = "arn:aws:lambda:us-east-1:000000000000:function:f"
	for _, tt := range []struct {
		name, running, qualifier, want string
	}{
		{"an unqualified invoke of $LATEST is the unqualified ARN", fn, "", fn},
		{"an explicit $LATEST stays in the ARN", fn, "$LATEST", fn + ":$LATEST"},
		{"a version invoked by number", fn + ":3", "3", fn + ":3"},
		{"an alias is named, not the version it resolved to", fn + ":3", "live", fn + ":live"},
		{"something that is not an ARN is passed on", "f", "", "f"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := invokedARN(tt.running, tt.qualifier); got != tt.want {
				t.Errorf("invokedARN(%q, %q) = %q, want %q", tt.running, tt.qualifier, got, tt.want)
			}
		})
	}
}
