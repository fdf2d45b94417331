package harness

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// managedBench is one runtime the runtimes mode measures: a hello function that returns its
// event, written as AWS documents handlers, and Lambda's published figure to show beside it.
type managedBench struct {
	runtime types.Runtime
	handler string
	file    string
	body    string
	// lambda is Lambda's published init-duration median for the nearest runtime, for reference.
	lambda string
}

var managedBenches = []managedBench{
	{runtime: types.RuntimeNodejs20x, handler: "index.handler", file: "index.mjs",
		body:   "export const handler = async (event) => event;\n",
		lambda: "Lambda's published init median, Node.js 22: about 138 ms"},
	{runtime: types.RuntimePython311, handler: "app.handler", file: "app.py",
		body:   "def handler(event, context):\n    return event\n",
		lambda: "Lambda's published init median, Python 3.12: about 84 ms"},
}

// RunRuntimes measures Ember's managed runtimes beside its provided.al2023 echo function: for
// each runtime, in every round on a fresh server, the cold start of Functions distinct
// functions created beforehand (client-observed, and the Init Duration of their REPORT lines),
// then one function's warm latency at one client. Only Ember is measured: the emulator and
// floor run bootstrap binaries only.
func RunRuntimes(ctx context.Context, cfg Config, logger *slog.Logger) (*Report, error) {
	if cfg.Ember == "" {
		return nil, fmt.Errorf("the runtimes mode measures Ember only: give -ember")
	}
	b, err := prepare(ctx, cfg, logger)
	if err != nil {
		return nil, err
	}
	rep := newReport("runtimes", cfg)
	type subject struct {
		name, handler, lambda string
		runtime               types.Runtime
		zip                   []byte
	}
	subjects := []subject{{name: "provided.al2023 (Go echo)", handler: "bootstrap", runtime: types.RuntimeProvidedal2023, zip: b.zip}}
	for _, m := range managedBenches {
		z, err := zipOne(m.file, m.body)
		if err != nil {
			return nil, err
		}
		subjects = append(subjects, subject{name: string(m.runtime), handler: m.handler, lambda: m.lambda, runtime: m.runtime, zip: z})
	}
	for _, s := range subjects {
		var cold, initD, warm pool
		cold.skipped, initD.skipped, warm.skipped = b.emberErr, b.emberErr, b.emberErr
		for round := range cfg.Rounds {
			if b.emberErr != nil || cold.skipped != nil {
				break
			}
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			logger.Info("round", "n", round+1, "of", cfg.Rounds, "runtime", s.name)
			if err := b.runtimeRound(ctx, s.runtime, s.handler, s.zip, &cold, &initD, &warm); err != nil {
				logger.Warn("not measured", "runtime", s.name, "err", err)
				cold.skipped, initD.skipped, warm.skipped = err, err, err
			}
		}
		target := "ember " + s.name
		r := cold.row(target, "cold start", 1)
		r.RPS = 0
		r.Note = join(r.Note, fmt.Sprintf("client-observed first invoke of each of %d functions; %s", cfg.Functions, b.emberNote()))
		rep.Rows = append(rep.Rows, r)
		r = initD.row(target, "Init Duration", 1)
		r.RPS = 0
		note := "from the cold starts' REPORT lines"
		if s.lambda != "" {
			note += "; " + s.lambda
		}
		r.Note = join(r.Note, note)
		rep.Rows = append(rep.Rows, r)
		rep.Rows = append(rep.Rows, warm.row(target, "1 client", 1))
	}
	return rep, nil
}

// runtimeRound starts a fresh server, creates Functions functions of runtime, invokes each
// once, then measures one of them warm.
func (b *bench) runtimeRound(ctx context.Context, runtime types.Runtime, handler string, zip []byte, cold, initD, warm *pool) error {
	cfg := b.emberConfig()
	e, err := StartEmber(ctx, cfg)
	if err != nil {
		return err
	}
	defer e.Stop()
	b.isolation = e.Isolation
	var names []string
	for i := range b.cfg.Functions {
		name := fmt.Sprintf("bench-%s-%d", sanitize(string(runtime)), i)
		if _, err := e.lambda.CreateFunction(ctx, &lambda.CreateFunctionInput{
			FunctionName: aws.String(name), Runtime: runtime, Handler: aws.String(handler),
			Role: aws.String("arn:aws:iam::000000000000:role/bench"), MemorySize: aws.Int32(cfg.MemorySize),
			Code: &types.FunctionCode{ZipFile: zip},
		}); err != nil {
			return fmt.Errorf("%w: CreateFunction %s: %v", ErrDeploy, name, err)
		}
		if err := e.WaitActive(ctx, name); err != nil {
			return err
		}
		names = append(names, name)
	}
	for i, name := range names {
		d, init, err := coldInvoke(ctx, e.lambda, name, i)
		s := Sequential{}
		if err != nil {
			s.Errors, s.FirstErr = 1, err
		} else {
			s.Samples = []time.Duration{d}
			initD.samples = append(initD.samples, init)
		}
		cold.sequential(s, d)
	}
	b.latency(ctx, e.Target(names[0]), warm)
	return nil
}

var initDurationRE = regexp.MustCompile(`\tInit Duration: (\d+\.\d+) ms`)

// coldInvoke invokes a function for the first time with the log tail, and returns the
// client-observed latency and the Init Duration its REPORT line gives.
func coldInvoke(ctx context.Context, c *lambda.Client, name string, seq int) (time.Duration, time.Duration, error) {
	payload := []byte(`{"seq":` + strconv.Itoa(seq) + `}`)
	start := time.Now()
	out, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(name), LogType: types.LogTypeTail, Payload: payload})
	d := time.Since(start)
	if err != nil {
		return d, 0, fmt.Errorf("%w: %v", ErrInvoke, err)
	}
	if out.FunctionError != nil {
		return d, 0, fmt.Errorf("%w: function error %s: %s", ErrInvoke, aws.ToString(out.FunctionError), truncate(out.Payload))
	}
	if !sameJSON(out.Payload, payload) {
		return d, 0, fmt.Errorf("%w: sent %s, got back %s", ErrInvoke, payload, truncate(out.Payload))
	}
	tail, _ := base64.StdEncoding.DecodeString(aws.ToString(out.LogResult))
	m := initDurationRE.FindSubmatch(tail)
	if m == nil {
		return d, 0, fmt.Errorf("%w: a cold start's REPORT has no Init Duration: %s", ErrInvoke, truncate(tail))
	}
	ms, _ := strconv.ParseFloat(string(m[1]), 64)
	return d, time.Duration(ms * float64(time.Millisecond)), nil
}

func sanitize(s string) string {
	return regexp.MustCompile(`[^a-zA-Z0-9-]`).ReplaceAllString(s, "")
}

// zipOne returns a deployment package holding one file.
func zipOne(name, body string) ([]byte, error) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	h := &zip.FileHeader{Name: name, Method: zip.Deflate, Modified: time.Now()}
	h.SetMode(0o644)
	w, err := zw.CreateHeader(h)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write([]byte(body)); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
