package harness

import (
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	good := Config{Echo: "./echo", Floor: "./floor", Invokes: 10, Warmup: 0, Clients: 16, Duration: time.Second,
		Rounds: 1, Functions: 1, Region: "us-east-1", WorkDir: "/tmp/x"}
	tests := []struct {
		name    string
		change  func(*Config)
		wantErr bool
	}{
		{"a config with one target is valid", func(*Config) {}, false},
		{"a config with no target is not", func(c *Config) { c.Floor = "" }, true},
		{"a config without the echo function is not", func(c *Config) { c.Echo = "" }, true},
		{"no measured invokes is not valid", func(c *Config) { c.Invokes = 0 }, true},
		{"no clients is not valid", func(c *Config) { c.Clients = 0 }, true},
		{"no duration is not valid", func(c *Config) { c.Duration = 0 }, true},
		{"no work dir is not valid", func(c *Config) { c.WorkDir = "" }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good
			tt.change(&c)
			if err := c.Validate(); (err != nil) != tt.wantErr {
				t.Errorf("Validate() = %v, want error: %v", err, tt.wantErr)
			}
		})
	}
}
