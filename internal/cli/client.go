package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/spf13/cobra"

	"github.com/ember-serverless/ember/internal/auth"
	"github.com/ember-serverless/ember/internal/limits"
	"github.com/ember-serverless/ember/internal/server"
)

// Environment variables the client commands read.
const (
	EnvEndpoint        = "EMBER_ENDPOINT"
	EnvRootAccessKeyID = "EMBER_ROOT_ACCESS_KEY_ID"
	EnvRootSecretKey   = "EMBER_ROOT_SECRET_ACCESS_KEY"
)

// ErrNoCredentials is returned when no credentials are found in the environment or data dir.
var ErrNoCredentials = errors.New("no credentials")

// clientFlags are the flags every client command shares.
type clientFlags struct {
	endpoint string
	region   string
	dataDir  string
}

func (cf *clientFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&cf.endpoint, "endpoint", "", "Ember API URL (default $"+EnvEndpoint+" or http://"+server.DefaultListen+")")
	f.StringVar(&cf.region, "region", "", "region to sign requests for (default $AWS_REGION or "+limits.DefaultRegion+")")
	f.StringVar(&cf.dataDir, "data-dir", "", "server data dir to read root credentials from when none are in the environment (default "+server.DefaultDataDir()+")")
}

// ClientConfig is what a client command needs to reach a server.
type ClientConfig struct {
	Endpoint    string
	Region      string
	Credentials aws.Credentials
}

// resolve fills in defaults from the environment and the data dir.
func (cf *clientFlags) resolve() (ClientConfig, error) {
	return ResolveClientConfig(cf.endpoint, cf.region, cf.dataDir, os.Getenv)
}

// ResolveClientConfig decides the endpoint, region and credentials a client uses. Flags win over
// the environment, which wins over defaults. Credentials come from AWS_ACCESS_KEY_ID /
// AWS_SECRET_ACCESS_KEY (with AWS_SESSION_TOKEN), else EMBER_ROOT_ACCESS_KEY_ID /
// EMBER_ROOT_SECRET_ACCESS_KEY, else the data dir's root-credentials.json.
func ResolveClientConfig(endpoint, region, dataDir string, getenv func(string) string) (ClientConfig, error) {
	cc := ClientConfig{Endpoint: endpoint, Region: region}
	if cc.Endpoint == "" {
		cc.Endpoint = getenv(EnvEndpoint)
	}
	if cc.Endpoint == "" {
		cc.Endpoint = "http://" + server.DefaultListen
	}
	if !strings.Contains(cc.Endpoint, "://") {
		cc.Endpoint = "http://" + cc.Endpoint
	}
	if cc.Region == "" {
		cc.Region = getenv("AWS_REGION")
	}
	if cc.Region == "" {
		cc.Region = getenv("AWS_DEFAULT_REGION")
	}
	if cc.Region == "" {
		cc.Region = limits.DefaultRegion
	}
	switch {
	case getenv("AWS_ACCESS_KEY_ID") != "" && getenv("AWS_SECRET_ACCESS_KEY") != "":
		cc.Credentials = aws.Credentials{
			AccessKeyID:     getenv("AWS_ACCESS_KEY_ID"),
			SecretAccessKey: getenv("AWS_SECRET_ACCESS_KEY"),
			SessionToken:    getenv("AWS_SESSION_TOKEN"),
			Source:          "environment",
		}
	case getenv(EnvRootAccessKeyID) != "" && getenv(EnvRootSecretKey) != "":
		cc.Credentials = aws.Credentials{
			AccessKeyID:     getenv(EnvRootAccessKeyID),
			SecretAccessKey: getenv(EnvRootSecretKey),
			Source:          "ember root environment",
		}
	default:
		if dataDir == "" {
			dataDir = server.DefaultDataDir()
		}
		creds, err := readRootCredentials(dataDir)
		if err != nil {
			return cc, err
		}
		cc.Credentials = creds
	}
	return cc, nil
}

// readRootCredentials reads the root key the server wrote to <dataDir>/root-credentials.json.
func readRootCredentials(dataDir string) (aws.Credentials, error) {
	c, err := auth.ReadRootFile(dataDir)
	if errors.Is(err, fs.ErrNotExist) {
		return aws.Credentials{}, fmt.Errorf("%w: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or %s/%s, or pass the server's --data-dir (%s not found)",
			ErrNoCredentials, EnvRootAccessKeyID, EnvRootSecretKey, auth.RootFilePath(dataDir))
	}
	if err != nil {
		return aws.Credentials{}, err
	}
	return aws.Credentials{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey, Source: auth.RootFilePath(dataDir)}, nil
}

// awsConfig is an aws.Config that reads nothing from ~/.aws: everything comes from cc.
func (cc ClientConfig) awsConfig(httpClient aws.HTTPClient) aws.Config {
	cfg := aws.Config{
		Region:      cc.Region,
		Credentials: credentials.StaticCredentialsProvider{Value: cc.Credentials},
	}
	if httpClient != nil {
		cfg.HTTPClient = httpClient
	}
	return cfg
}

// Lambda returns a Lambda API client for cc. A non-nil httpClient replaces the SDK's.
func (cc ClientConfig) Lambda(httpClient aws.HTTPClient) *lambda.Client {
	return lambda.NewFromConfig(cc.awsConfig(httpClient), func(o *lambda.Options) {
		o.BaseEndpoint = aws.String(cc.Endpoint)
	})
}

// Logs returns a CloudWatch Logs client for cc.
func (cc ClientConfig) Logs() *cloudwatchlogs.Client {
	return cloudwatchlogs.NewFromConfig(cc.awsConfig(nil), func(o *cloudwatchlogs.Options) {
		o.BaseEndpoint = aws.String(cc.Endpoint)
	})
}

// lambdaClient resolves the flags into a Lambda client.
func (cf *clientFlags) lambdaClient(httpClient aws.HTTPClient) (*lambda.Client, ClientConfig, error) {
	cc, err := cf.resolve()
	if err != nil {
		return nil, cc, err
	}
	return cc.Lambda(httpClient), cc, nil
}

// defaultHTTPClient is the client used when a command needs to wrap one.
func defaultHTTPClient() *http.Client { return &http.Client{} }

// commandContext is cmd's context, or Background when run outside ExecuteContext.
func commandContext(cmd *cobra.Command) context.Context {
	if ctx := cmd.Context(); ctx != nil {
		return ctx
	}
	return context.Background()
}
