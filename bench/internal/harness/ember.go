package harness

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// ErrDeploy is wrapped when a function cannot be created or never becomes Active.
var ErrDeploy = errors.New("deploy failed")

// EmberConfig says how to start `ember server` and deploy the echo function on it.
type EmberConfig struct {
	// Bin is the ember binary.
	Bin string
	// Args are extra arguments after `server --listen ADDR --data-dir DIR`, e.g. --isolation.
	Args []string
	// Creds become EMBER_ROOT_ACCESS_KEY_ID / EMBER_ROOT_SECRET_ACCESS_KEY and sign every request.
	Creds  aws.Credentials
	Region string
	// Zip is the deployment package: the echo function's bootstrap at its root.
	Zip []byte
	// MemorySize is each function's MemorySize in MB; the jail backend gives a sandbox a CPU
	// share proportional to it (1,769 MB is one vCPU, as Lambda).
	MemorySize int32
	// WorkDir holds the server's data dir and log.
	WorkDir string
	// DataDir, when set, is the data dir to start on (a restart); otherwise a fresh one is
	// made in WorkDir.
	DataDir string
}

// Ember is a running `ember server` with a fresh data dir.
type Ember struct {
	// Isolation is the sandbox backend the server said it uses, or "" if it did not say.
	Isolation string
	cfg       EmberConfig
	proc      *process
	addr      string
	metrics   string // HOST:PORT of /metrics, "" if the server does not say
	lambda    *lambda.Client
}

// StartEmber starts `ember server` on a loopback port it picks itself, reads the port from its
// startup log line, and waits until its API answers a signed ListFunctions.
func StartEmber(ctx context.Context, cfg EmberConfig) (*Ember, error) {
	dataDir := cfg.DataDir
	if dataDir == "" {
		d, err := os.MkdirTemp(cfg.WorkDir, "ember-data-")
		if err != nil {
			return nil, err
		}
		dataDir, cfg.DataDir = d, d
	}
	args := append([]string{"server", "--listen", "127.0.0.1:0", "--data-dir", dataDir}, cfg.Args...)
	if !slices.ContainsFunc(cfg.Args, func(a string) bool { return strings.HasPrefix(a, "--metrics-listen") }) {
		// For the log counters every row of Ember reports (LogCounters).
		args = append(args, "--metrics-listen", "127.0.0.1:0")
	}
	env := append(os.Environ(),
		"EMBER_ROOT_ACCESS_KEY_ID="+cfg.Creds.AccessKeyID,
		"EMBER_ROOT_SECRET_ACCESS_KEY="+cfg.Creds.SecretAccessKey)
	p, err := startProcess("ember", cfg.Bin, args, env, cfg.WorkDir, cfg.WorkDir)
	if err != nil {
		return nil, err
	}
	e := &Ember{cfg: cfg, proc: p}
	var lastErr error
	err = p.poll(ctx, startTimeout, func() bool {
		if e.lambda == nil {
			if e.addr = logFind(p.logPath, servingRE); e.addr == "" {
				lastErr = errors.New(`no "ember is serving" line with an endpoint in its log yet`)
				return false
			}
			e.lambda = newLambdaClient(e.addr, cfg)
		}
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		_, lastErr = e.lambda.ListFunctions(cctx, &lambda.ListFunctionsInput{})
		return lastErr == nil
	})
	if err != nil {
		p.stop()
		if errors.Is(err, ErrNotReady) && lastErr != nil && !strings.Contains(err.Error(), "exited") {
			err = fmt.Errorf("%w (last ListFunctions: %v)", err, lastErr)
		}
		return nil, err
	}
	e.Isolation = logFind(p.logPath, isolationRE)
	e.metrics = logFind(p.logPath, metricsRE)
	return e, nil
}

// metricsRE finds where the server serves /metrics (`msg="serving metrics" addr=127.0.0.1:4`).
var metricsRE = regexp.MustCompile(`msg="serving metrics" addr=([^ \n]+)`)

// LogCounts are the server's log store counters: lines dropped (ember_log_events_dropped_total,
// which must stay 0), refused by the store, and spilled to disk while it lagged.
type LogCounts struct {
	Dropped, Failed, Spilled int64
}

// LogCounters reads the server's log counters from its /metrics.
func (e *Ember) LogCounters(ctx context.Context) (LogCounts, error) {
	if e.metrics == "" {
		return LogCounts{}, errors.New("the server did not say where it serves metrics")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+e.metrics+"/metrics", nil)
	if err != nil {
		return LogCounts{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return LogCounts{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return LogCounts{}, err
	}
	var c LogCounts
	found := 0
	for _, line := range strings.Split(string(body), "\n") {
		name, value, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		v, perr := strconv.ParseFloat(value, 64)
		if perr != nil {
			continue
		}
		switch name {
		case "ember_log_events_dropped_total":
			c.Dropped, found = int64(v), found+1
		case "ember_log_events_failed_total":
			c.Failed = int64(v)
		case "ember_log_events_spilled_total":
			c.Spilled = int64(v)
		}
	}
	if found == 0 {
		return c, errors.New("no ember_log_events_dropped_total in /metrics")
	}
	return c, nil
}

// isolationRE finds the backend in the server's startup log line (`isolation=jail`).
var isolationRE = regexp.MustCompile(`\bisolation=([a-z]+)`)

// servingRE finds the address the server listens on in its startup log line
// (`msg="ember is serving" endpoint=http://127.0.0.1:41234`).
var servingRE = regexp.MustCompile(`msg="ember is serving" endpoint=http://([^ ]+)`)

// logFind returns what re's first group matches first in the server's log, or "" if the log
// does not say (yet).
func logFind(logPath string, re *regexp.Regexp) string {
	b, err := os.ReadFile(logPath)
	if err != nil {
		return ""
	}
	if m := re.FindSubmatch(b); m != nil {
		return string(m[1])
	}
	return ""
}

// newLambdaClient is an SDK client of the Lambda API at addr, signing with cfg's credentials.
func newLambdaClient(addr string, cfg EmberConfig) *lambda.Client {
	return lambda.New(lambda.Options{
		Region:           cfg.Region,
		Credentials:      aws.NewCredentialsCache(staticCreds(cfg.Creds)),
		BaseEndpoint:     aws.String("http://" + addr),
		RetryMaxAttempts: 1,
	})
}

type staticCreds aws.Credentials

func (c staticCreds) Retrieve(context.Context) (aws.Credentials, error) {
	return aws.Credentials(c), nil
}

// Deploy creates function name from the echo package (Runtime provided.al2023) and waits until
// its State is Active, as a client of Lambda would, and returns it as a Target.
func (e *Ember) Deploy(ctx context.Context, name string) (*Target, error) {
	_, err := e.lambda.CreateFunction(ctx, &lambda.CreateFunctionInput{
		FunctionName: aws.String(name),
		Runtime:      types.RuntimeProvidedal2023,
		Handler:      aws.String("bootstrap"),
		Role:         aws.String("arn:aws:iam::000000000000:role/bench"),
		MemorySize:   aws.Int32(e.cfg.MemorySize),
		Code:         &types.FunctionCode{ZipFile: e.cfg.Zip},
	})
	if err != nil {
		return nil, fmt.Errorf("%w: CreateFunction %s: %v", ErrDeploy, name, err)
	}
	if err := e.WaitActive(ctx, name); err != nil {
		return nil, err
	}
	return e.Target(name), nil
}

// WaitActive polls GetFunctionConfiguration until function name is Active.
func (e *Ember) WaitActive(ctx context.Context, name string) error {
	var state types.State
	err := e.proc.poll(ctx, time.Minute, func() bool {
		out, err := e.lambda.GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(name)})
		if err != nil {
			return false
		}
		state = out.State
		return state == types.StateActive || state == types.StateFailed
	})
	switch {
	case err != nil:
		return fmt.Errorf("%w: %s never became Active (state %q): %v", ErrDeploy, name, state, err)
	case state == types.StateFailed:
		return fmt.Errorf("%w: %s: state Failed", ErrDeploy, name)
	}
	return nil
}

// Target is function name on this server, invoked at POST /2015-03-31/functions/NAME/invocations.
func (e *Ember) Target(name string) *Target {
	return &Target{Name: "ember", URL: invokeURL(e.addr, name), proc: e.proc}
}

// Stop stops the server.
func (e *Ember) Stop() { e.proc.stop() }

// Kill ends the server and everything in its process group with SIGKILL, as a crash would,
// and waits for it to be gone.
func (e *Ember) Kill() { e.proc.kill() }

// Config is what the server was started with, its data dir included: starting another with
// it restarts the server on the same state.
func (e *Ember) Config() EmberConfig { return e.cfg }

// ZipBootstrap returns a deployment package holding the file at path as an executable
// `bootstrap` at the root.
func ZipBootstrap(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	h := &zip.FileHeader{Name: "bootstrap", Method: zip.Deflate, Modified: time.Now()}
	h.SetMode(0o755)
	w, err := zw.CreateHeader(h)
	if err != nil {
		return nil, err
	}
	if _, err := io.Copy(w, f); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// WithRoomFor gives the server's worker the memory for clients sandboxes of mb MB (and a few
// more), unless args set --worker-memory: placement counts each sandbox's MemorySize and by
// default offers the host's memory less a reserve, which 16 sandboxes of 1,769 MB pass on a
// 24 GB host, though idle they use a few MB each (docs/concurrency.md). The bench measures
// the invoke path, not placement, so it asks for the room explicitly, as its report shows.
func WithRoomFor(args []string, clients int, mb int32) []string {
	for _, a := range args {
		if a == "--worker-memory" || strings.HasPrefix(a, "--worker-memory=") {
			return args
		}
	}
	room := int64(clients+4) * int64(mb)
	return append(slices.Clone(args), "--worker-memory", strconv.FormatInt(room, 10))
}
