// Command async benchmarks Ember's asynchronous invocation: the intake rate of SigV4-signed
// Event invokes (answered 202 only once stored), the end-to-end processing rate of a no-op
// function beside the synchronous path's, and the queue's age under a burst. Run it from the
// repository root:
//
//	go run ./bench/async -ember . -burst 50000
//
// Completion is observed through each event's OnSuccess record on a NATS subject, read over
// `ember server --nats-listen`. bench/README.md says what each figure means.
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ember-serverless/ember/bench/internal/harness"
)

func main() {
	emberPath := flag.String("ember", ".", "ember binary, or module root to build ./cmd/ember from")
	echo := flag.String("echo", "./bench/functions/echo", "echo function: bootstrap binary or package dir")
	emberArgs := flag.String("ember-args", "", "extra space-separated arguments for `ember server`")
	clients := flag.Int("clients", 16, "concurrent clients")
	duration := flag.Duration("duration", 5*time.Second, "how long the intake rate and the sync rate are measured")
	burst := flag.Int("burst", 50000, "events sent as fast as the clients can for the burst")
	recovery := flag.Int("recover", 10000, "events queued before the server is killed with SIGKILL mid-processing and restarted, to time the queue's recovery (0: skip)")
	flag.Parse()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(*emberPath, *echo, strings.Fields(*emberArgs), *clients, *duration, *burst, *recovery, logger); err != nil {
		fmt.Fprintln(os.Stderr, "bench/async:", err)
		os.Exit(1)
	}
}

type sender struct {
	http   *http.Client
	signer *v4.Signer
	creds  aws.Credentials
	url    string
	seq    atomic.Uint64
}

// event sends one signed Event invoke and reports whether it was answered 202.
func (s *sender) event(ctx context.Context) error {
	payload := strconv.AppendUint([]byte(`{"seq":`), s.seq.Add(1), 10)
	payload = append(payload, '}')
	sum := sha256.Sum256(payload)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(payload))
	req.Header.Set("X-Amz-Invocation-Type", "Event")
	if err := s.signer.SignHTTP(ctx, s.creds, req, hex.EncodeToString(sum[:]), "lambda", "us-east-1", time.Now()); err != nil {
		return err
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("status %d: %s", resp.StatusCode, body)
	}
	return nil
}

// send runs clients loops until n events are accepted (n > 0) or d passes, and returns how many
// were accepted, how many failed, and the wall time.
func (s *sender) send(ctx context.Context, clients, n int, d time.Duration) (int64, int64, time.Duration) {
	var ok, failed atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				if n > 0 && ok.Load() >= int64(n) || n == 0 && time.Now().After(deadline) {
					return
				}
				if err := s.event(ctx); err != nil {
					failed.Add(1)
					continue
				}
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	return ok.Load(), failed.Load(), time.Since(start)
}

func run(emberPath, echo string, args []string, clients int, duration time.Duration, burst, recovery int, logger *slog.Logger) error {
	ctx := context.Background()
	st, err := harness.NewStandalone(ctx, "async", emberPath, echo, "AKIAEMBERBENCH000002")
	if err != nil {
		return err
	}
	defer st.Close()
	creds := st.Creds
	natsAddr := harness.MustFreeAddr()
	args = harness.WithRoomFor(args, clients, 1769)
	e, err := st.Start(ctx, append([]string{"--nats-listen", natsAddr}, args...), 1769)
	if err != nil {
		return err
	}
	defer func() { e.Stop() }()
	syncTarget, err := e.Deploy(ctx, "echo")
	if err != nil {
		return err
	}
	nc, err := nats.Connect("nats://" + natsAddr)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "BENCH", Subjects: []string{"bench.done"}, Storage: jetstream.FileStorage})
	if err != nil {
		return err
	}
	done := func() uint64 {
		info, err := stream.Info(ctx)
		if err != nil {
			return 0
		}
		return info.State.Msgs
	}
	put := func(fn string) error {
		body := `{"DestinationConfig":{"OnSuccess":{"Destination":"arn:aws:nats:us-east-1:000000000000:subject:bench.done"}}}`
		url := strings.Replace(syncTarget.URL, "/2015-03-31/functions/echo/invocations", "/2019-09-25/functions/"+fn+"/event-invoke-config", 1)
		sum := sha256.Sum256([]byte(body))
		req, _ := http.NewRequestWithContext(ctx, http.MethodPut, url, strings.NewReader(body))
		v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "lambda", "us-east-1", time.Now())
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			b, _ := io.ReadAll(resp.Body)
			return fmt.Errorf("PutFunctionEventInvokeConfig: %d %s", resp.StatusCode, b)
		}
		return nil
	}
	if err := put("echo"); err != nil {
		return err
	}
	tr := &http.Transport{MaxIdleConnsPerHost: clients * 2, DisableCompression: true}
	s := &sender{http: &http.Client{Transport: tr, Timeout: 30 * time.Second}, signer: v4.NewSigner(), creds: creds, url: syncTarget.URL}
	waitDone := func(want uint64, limit time.Duration) (time.Duration, error) {
		start := time.Now()
		for done() < want {
			if time.Since(start) > limit {
				return 0, fmt.Errorf("only %d of %d events done after %s", done(), want, limit)
			}
			time.Sleep(20 * time.Millisecond)
		}
		return time.Since(start), nil
	}

	fmt.Printf("# async bench, %s, %d clients, isolation %q\n", time.Now().UTC().Format(time.RFC3339), clients, e.Isolation)
	// Warm up: a sandbox exists and the consumer is made.
	s.send(ctx, 1, 50, time.Minute)
	if _, err := waitDone(50, time.Minute); err != nil {
		return err
	}

	// Intake: events accepted per second while the pollers also run them.
	ok, failed, el := s.send(ctx, clients, 0, duration)
	fmt.Printf("intake: %d events accepted in %s = %.0f events/s (%d refused)\n", ok, el.Round(time.Millisecond), float64(ok)/el.Seconds(), failed)
	before := done()
	drain, err := waitDone(uint64(ok)+50, 10*time.Minute)
	if err != nil {
		return err
	}
	fmt.Printf("intake's events all done %s after intake ended (%d were done by then)\n", drain.Round(time.Millisecond), before-50)

	// The synchronous path's rate on the same function, for comparison.
	c := harness.NewClient(creds, "us-east-1", clients)
	sr := c.RunConcurrent(ctx, syncTarget.URL, clients, duration)
	fmt.Printf("sync: %d invokes in %s = %.0f invokes/s (%d errors)\n", sr.Count, sr.Elapsed.Round(time.Millisecond), float64(sr.Count)/sr.Elapsed.Seconds(), sr.Errors)

	// Burst: n events as fast as the clients can; processing rate and the queue's age.
	base := done()
	start := time.Now()
	ok, failed, el = s.send(ctx, clients, burst, time.Hour)
	fmt.Printf("burst: %d events accepted in %s = %.0f events/s (%d refused)\n", ok, el.Round(time.Millisecond), float64(ok)/el.Seconds(), failed)
	if _, err := waitDone(base+uint64(ok), 30*time.Minute); err != nil {
		return err
	}
	total := time.Since(start)
	fmt.Printf("burst: all %d done %s after the first was sent: end-to-end %.0f events/s; the last event accepted ran about %s after it was accepted\n",
		ok, total.Round(time.Millisecond), float64(ok)/total.Seconds(), (total - el).Round(time.Millisecond))
	if recovery <= 0 {
		return nil
	}

	// Recovery: queue events, kill the server with SIGKILL while the pollers work through them,
	// restart it on the same data dir, and time how long until it serves and until every
	// accepted event has run.
	base = done()
	ok, failed, _ = s.send(ctx, clients, recovery, time.Hour)
	for done() < base+uint64(ok)/3 {
		time.Sleep(5 * time.Millisecond)
	}
	atKill := done() - base
	e.Kill()
	restart := time.Now()
	e, err = harness.StartEmber(ctx, e.Config())
	if err != nil {
		return fmt.Errorf("restart after kill -9: %w", err)
	}
	serving := time.Since(restart)
	if _, err := waitDone(base+uint64(ok), 30*time.Minute); err != nil {
		return fmt.Errorf("after kill -9: %w", err)
	}
	drained := time.Since(restart)
	fmt.Printf("kill -9: %d events accepted (%d refused), %d done at the kill; restarted and serving in %s; all done %s after the restart began: %d left ran at %.0f events/s (the in-flight ones come back after --async-ack-wait)\n",
		ok, failed, atKill, serving.Round(time.Millisecond), drained.Round(time.Millisecond), uint64(ok)-atKill, float64(uint64(ok)-atKill)/drained.Seconds())
	return nil
}
