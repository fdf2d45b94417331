// Command concurrency benchmarks Ember's admission and placement: warm throughput and latency
// percentiles at 1, 16 and 64 clients on one function and spread over 50 functions, and how
// many idle sandboxes of a Go (provided.al2023) and of a Python function the host holds before
// placement refuses one (the memory reserve) or memory runs out. Run it from the repository
// root:
//
//	go run ./bench/concurrency -ember .
//
// bench/README.md says what each figure means.
package main

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/ember-serverless/ember/bench/internal/harness"
	"github.com/ember-serverless/ember/internal/placement"
)

func main() {
	emberPath := flag.String("ember", ".", "ember binary, or module root to build ./cmd/ember from")
	echo := flag.String("echo", "./bench/functions/echo", "echo function: bootstrap binary or package dir")
	emberArgs := flag.String("ember-args", "", "extra space-separated arguments for `ember server`")
	duration := flag.Duration("duration", 5*time.Second, "how long each throughput run lasts")
	spread := flag.Int("functions", 50, "functions the spread runs go over")
	maxIdle := flag.Int("max-idle", 400, "most idle sandboxes made of each runtime in the density run")
	memory := flag.Int("memory", 128, "MemorySize of every function, in MB")
	densityOnly := flag.Bool("density-only", false, "skip the throughput runs")
	flag.Parse()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if *densityOnly {
		*spread = 0
	}
	if err := run(*emberPath, *echo, strings.Fields(*emberArgs), *duration, *spread, *maxIdle, int32(*memory), logger); err != nil {
		fmt.Fprintln(os.Stderr, "bench/concurrency:", err)
		os.Exit(1)
	}
}

var addrRE = regexp.MustCompile(`^http://([^/]+)/`)

func run(emberPath, echo string, args []string, d time.Duration, spread, maxIdle int, memory int32, logger *slog.Logger) error {
	ctx := context.Background()
	st, err := harness.NewStandalone(ctx, "concurrency", emberPath, echo, "AKIAEMBERBENCH000003")
	if err != nil {
		return err
	}
	defer st.Close()
	creds, goZip := st.Creds, st.Zip
	metricsAddr := harness.MustFreeAddr()
	args = append(args, "--metrics-listen", metricsAddr)
	e, err := st.Start(ctx, args, memory)
	if err != nil {
		return err
	}
	defer e.Stop()
	fmt.Printf("ember concurrency bench, %s, isolation %s, MemorySize %d MB, %s per run\n\n",
		time.Now().UTC().Format(time.RFC3339), e.Isolation, memory, d)

	one, err := e.Deploy(ctx, "one")
	if err != nil {
		return err
	}
	var urls []string
	for i := range spread {
		t, err := e.Deploy(ctx, fmt.Sprint("spread", i))
		if err != nil {
			return err
		}
		urls = append(urls, t.URL)
	}
	client := harness.NewClient(creds, "us-east-1", 64)
	fmt.Printf("%-30s %8s %10s %9s %9s %9s %7s\n", "run", "clients", "invokes/s", "p50", "p99", "max", "errors")
	for _, clients := range []int{1, 16, 64} {
		if spread == 0 {
			break
		}
		for _, r := range []struct {
			name string
			urls []string
		}{{"one function", []string{one.URL}}, {fmt.Sprintf("spread over %d functions", spread), urls}} {
			concurrent(ctx, client, r.urls, clients, time.Second) // warm-up: every client's sandbox made
			res := concurrent(ctx, client, r.urls, clients, d)
			fmt.Printf("%-30s %8d %10.0f %9s %9s %9s %7d\n", r.name, clients, float64(len(res.samples))/res.elapsed.Seconds(),
				pct(res.samples, 50), pct(res.samples, 99), pct(res.samples, 100), res.errors)
			if res.first != nil {
				fmt.Printf("  first error: %v\n", res.first)
			}
		}
	}

	m := addrRE.FindStringSubmatch(one.URL)
	if m == nil {
		return fmt.Errorf("no address in %s", one.URL)
	}
	lc := lambda.New(lambda.Options{Region: "us-east-1", BaseEndpoint: aws.String("http://" + m[1]),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return creds, nil })})
	pyZip, err := zipOne("app.py", "def handler(event, context):\n    return event\n")
	if err != nil {
		return err
	}
	fmt.Printf("\nidle sandboxes held (one per function, each invoked once), MemorySize %d MB:\n", memory)
	for _, rt := range []struct {
		name    string
		runtime types.Runtime
		handler string
		zip     []byte
	}{{"go", types.RuntimeProvidedal2023, "bootstrap", goZip}, {"python", types.RuntimePython311, "app.handler", pyZip}} {
		before, _ := placement.MemAvailableMB()
		held, why := 0, "reached -max-idle"
		for i := range maxIdle {
			name := fmt.Sprintf("idle-%s-%d", rt.name, i)
			if _, err := lc.CreateFunction(ctx, &lambda.CreateFunctionInput{FunctionName: aws.String(name), Runtime: rt.runtime,
				Handler: aws.String(rt.handler), Role: aws.String("arn:aws:iam::000000000000:role/bench"),
				MemorySize: aws.Int32(memory), Code: &types.FunctionCode{ZipFile: rt.zip}}); err != nil {
				return err
			}
			if err := e.WaitActive(ctx, name); err != nil {
				return err
			}
			_, err := lc.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(name), Payload: []byte(`{"seq":1}`)},
				func(o *lambda.Options) { o.RetryMaxAttempts = 1 })
			var tm *types.TooManyRequestsException
			if errors.As(err, &tm) {
				why = fmt.Sprintf("refused: %s (%s)", tm.Reason, aws.ToString(tm.Message))
				break
			}
			if err != nil {
				why = "failed: " + err.Error()
				break
			}
			held++
			if alive, err := sandboxes(metricsAddr); err == nil && alive < held {
				held = alive
				why = fmt.Sprintf("placement evicted an idle sandbox to make room: the workers' memory (--worker-memory) holds %d", alive)
				break
			}
		}
		after, _ := placement.MemAvailableMB()
		per := 0.0
		if held > 0 {
			per = float64(before-after) / float64(held)
		}
		fmt.Printf("  %-7s %4d held, host MemAvailable %d → %d MB (%.1f MB each); stopped: %s\n", rt.name, held, before, after, per, why)
		// Room for the next runtime's: these go.
		for i := range held {
			lc.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: aws.String(fmt.Sprintf("idle-%s-%d", rt.name, i))})
		}
		time.Sleep(2 * time.Second) // let the deleted functions' sandboxes be destroyed
	}
	return nil
}

// sandboxes reads ember_sandboxes, the sandboxes alive, from the server's /metrics.
func sandboxes(addr string) (int, error) {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "ember_sandboxes "); ok {
			n, err := strconv.ParseFloat(v, 64)
			return int(n), err
		}
	}
	return 0, errors.New("no ember_sandboxes in /metrics")
}

type result struct {
	samples []time.Duration
	errors  int
	first   error
	elapsed time.Duration
}

// concurrent runs clients loops until d has passed; client i invokes urls[i%len(urls)].
func concurrent(ctx context.Context, c *harness.Client, urls []string, clients int, d time.Duration) result {
	var mu sync.Mutex
	var wg sync.WaitGroup
	var out result
	start := time.Now()
	deadline := start.Add(d)
	for i := range clients {
		wg.Go(func() {
			var s []time.Duration
			var errs int
			var first error
			for j := i; time.Now().Before(deadline); j += clients {
				lat, err := c.Invoke(ctx, urls[j%len(urls)])
				if err != nil {
					errs++
					if first == nil {
						first = err
					}
					continue
				}
				s = append(s, lat)
			}
			mu.Lock()
			out.samples = append(out.samples, s...)
			out.errors += errs
			if out.first == nil {
				out.first = first
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	out.elapsed = time.Since(start)
	return out
}

func pct(s []time.Duration, p int) string {
	if len(s) == 0 {
		return "-"
	}
	slices.Sort(s)
	i := min(len(s)-1, len(s)*p/100)
	return s[i].Round(time.Microsecond).String()
}

func zipOne(name, body string) ([]byte, error) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.Create(name)
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
