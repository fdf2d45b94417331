package cli

import (
	"errors"
	"os"
	"testing"

	"github.com/ember-serverless/ember/internal/auth"
)

func TestResolveClientConfig(t *testing.T) {
	dataDir := t.TempDir()
	if err := os.WriteFile(auth.RootFilePath(dataDir),
		[]byte(`{"AccessKeyId":"AKIAFILE","SecretAccessKey":"file-secret"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name                      string
		endpoint, region, dataDir string
		env                       map[string]string
		wantEndpoint, wantRegion  string
		wantKey                   string
		wantErr                   error
	}{
		{
			name:         "AWS credentials in the environment win over Ember's root ones",
			env:          map[string]string{"AWS_ACCESS_KEY_ID": "AKIAENV", "AWS_SECRET_ACCESS_KEY": "s", EnvRootAccessKeyID: "AKIAROOT", EnvRootSecretKey: "r"},
			dataDir:      dataDir,
			wantEndpoint: "http://127.0.0.1:9777", wantRegion: "us-east-1", wantKey: "AKIAENV",
		},
		{
			name:         "Ember's root credentials are used when no AWS ones are set",
			env:          map[string]string{EnvRootAccessKeyID: "AKIAROOT", EnvRootSecretKey: "r", "AWS_REGION": "eu-west-1"},
			wantEndpoint: "http://127.0.0.1:9777", wantRegion: "eu-west-1", wantKey: "AKIAROOT",
		},
		{
			name:         "the data dir's root credentials file is the last resort",
			dataDir:      dataDir,
			env:          map[string]string{EnvEndpoint: "http://10.0.0.1:1234"},
			wantEndpoint: "http://10.0.0.1:1234", wantRegion: "us-east-1", wantKey: "AKIAFILE",
		},
		{
			name:     "flags win over the environment and a bare host:port gets http://",
			endpoint: "127.0.0.1:5555", region: "ap-south-1", dataDir: dataDir,
			env:          map[string]string{EnvEndpoint: "http://10.0.0.1:1234", "AWS_REGION": "eu-west-1"},
			wantEndpoint: "http://127.0.0.1:5555", wantRegion: "ap-south-1", wantKey: "AKIAFILE",
		},
		{
			name:    "no credentials anywhere is an error that says where to put them",
			dataDir: t.TempDir(),
			wantErr: ErrNoCredentials,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cc, err := ResolveClientConfig(tt.endpoint, tt.region, tt.dataDir, func(k string) string { return tt.env[k] })
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cc.Endpoint != tt.wantEndpoint || cc.Region != tt.wantRegion || cc.Credentials.AccessKeyID != tt.wantKey {
				t.Errorf("got endpoint %q region %q key %q; want %q %q %q",
					cc.Endpoint, cc.Region, cc.Credentials.AccessKeyID, tt.wantEndpoint, tt.wantRegion, tt.wantKey)
			}
		})
	}
}

func TestParseEnv(t *testing.T) {
	tests := []struct {
		name    string
		in      []string
		want    map[string]string
		wantErr bool
	}{
		{name: "pairs become a map and a value may contain =", in: []string{"A=1", "B=x=y", "C="}, want: map[string]string{"A": "1", "B": "x=y", "C": ""}},
		{name: "no pairs is no environment", in: nil, want: nil},
		{name: "a pair without = is refused", in: []string{"A"}, wantErr: true},
		{name: "a pair without a key is refused", in: []string{"=1"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseEnv(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q", k, got[k], v)
				}
			}
		})
	}
}
