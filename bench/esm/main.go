// Command esm benchmarks event source mappings: records per second from a JetStream stream, a
// Kafka topic and a RabbitMQ queue into a no-op function at batch sizes 1, 10 and 100, and the
// lag under a burst of records published while a mapping runs. Run it from the repository root:
//
//	go run ./bench/esm -ember . -burst 100000
//
// Kafka is franz-go's in-process kfake broker; RabbitMQ is Debian's rabbitmq-server, started
// on free ports in a temporary directory (skipped when it is not installed). Progress is read
// from the server's /metrics (ember_esm_records_succeeded_total and ember_esm_lag_records).
// bench/README.md says what each figure means.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ember-serverless/ember/bench/internal/harness"
)

func main() {
	emberPath := flag.String("ember", ".", "ember binary, or module root to build ./cmd/ember from")
	echo := flag.String("echo", "./bench/functions/echo", "no-op function: bootstrap binary or package dir")
	emberArgs := flag.String("ember-args", "", "extra space-separated arguments for `ember server`")
	burst := flag.Int("burst", 100000, "records published at once for the lag figure")
	sources := flag.String("sources", "jetstream,kafka,rabbitmq", "sources to measure")
	flag.Parse()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(*emberPath, *echo, strings.Fields(*emberArgs), *burst, strings.Split(*sources, ","), logger); err != nil {
		fmt.Fprintln(os.Stderr, "bench/esm:", err)
		os.Exit(1)
	}
}

// source is one kind of source under test.
type source interface {
	name() string
	// prepare makes an empty stream, topic or queue called id.
	prepare(ctx context.Context, id string) error
	// publish stores n records in it.
	publish(ctx context.Context, id string, n int) error
	// mapping is the CreateEventSourceMapping input reading it.
	mapping(id string) *lambda.CreateEventSourceMappingInput
	close()
}

type bench struct {
	lc      *lambda.Client
	metrics string
	fn      string
}

var succeededRE = regexp.MustCompile(`(?m)^ember_esm_records_succeeded_total\{function="[^"]*",uuid="([^"]+)"\} (\S+)$`)
var lagRE = regexp.MustCompile(`(?m)^ember_esm_lag_records\{function="[^"]*",uuid="([^"]+)"\} (\S+)$`)

// metric reads a mapping's figure from /metrics, -1 when absent.
func (b *bench) metric(re *regexp.Regexp, uuid string) float64 {
	resp, err := http.Get("http://" + b.metrics + "/metrics")
	if err != nil {
		return -1
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, m := range re.FindAllStringSubmatch(string(body), -1) {
		if m[1] == uuid {
			v, _ := strconv.ParseFloat(m[2], 64)
			return v
		}
	}
	return -1
}

func (b *bench) create(ctx context.Context, in *lambda.CreateEventSourceMappingInput, batch int) (string, error) {
	in.FunctionName = aws.String(b.fn)
	in.BatchSize = aws.Int32(int32(batch))
	out, err := b.lc.CreateEventSourceMapping(ctx, in)
	if err != nil {
		return "", err
	}
	return *out.UUID, nil
}

func (b *bench) waitSucceeded(uuid string, n int, limit time.Duration, lag *float64) (time.Duration, error) {
	start := time.Now()
	for {
		if lag != nil {
			if l := b.metric(lagRE, uuid); l > *lag {
				*lag = l
			}
		}
		got := b.metric(succeededRE, uuid)
		if got >= float64(n) {
			return time.Since(start), nil
		}
		if time.Since(start) > limit {
			return 0, fmt.Errorf("only %.0f of %d records processed after %s", got, n, limit)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// throughput pre-fills a source with n records, then measures how fast a new mapping of batch
// size batch processes them all.
func (b *bench) throughput(ctx context.Context, src source, batch, n int) error {
	id := fmt.Sprintf("b%s%d", src.name()[:2], batch)
	if err := src.prepare(ctx, id); err != nil {
		return err
	}
	if err := src.publish(ctx, id, n); err != nil {
		return err
	}
	start := time.Now()
	uuid, err := b.create(ctx, src.mapping(id), batch)
	if err != nil {
		return err
	}
	if _, err := b.waitSucceeded(uuid, n, 20*time.Minute, nil); err != nil {
		return err
	}
	el := time.Since(start)
	fmt.Printf("%s batch %d: %d records in %s = %.0f records/s\n", src.name(), batch, n, el.Round(time.Millisecond), float64(n)/el.Seconds())
	_, err = b.lc.DeleteEventSourceMapping(ctx, &lambda.DeleteEventSourceMappingInput{UUID: aws.String(uuid)})
	return err
}

// burstLag starts a mapping (batch 100) on an empty source, publishes n records as fast as it
// can, and reports the largest lag seen and how long the mapping took to catch up.
func (b *bench) burstLag(ctx context.Context, src source, n int) error {
	id := "burst" + src.name()[:2]
	if err := src.prepare(ctx, id); err != nil {
		return err
	}
	in := src.mapping(id)
	if in.StartingPosition != "" {
		in.StartingPosition = types.EventSourcePositionTrimHorizon
	}
	uuid, err := b.create(ctx, in, 100)
	if err != nil {
		return err
	}
	var lag float64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-done:
				return
			default:
			}
			if l := b.metric(lagRE, uuid); l > lag {
				lag = l
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	start := time.Now()
	if err := src.publish(ctx, id, n); err != nil {
		return err
	}
	pub := time.Since(start)
	el, err := b.waitSucceeded(uuid, n, 30*time.Minute, &lag)
	done <- struct{}{}
	if err != nil {
		return err
	}
	total := pub + el
	fmt.Printf("%s burst: %d records published in %s; all processed %s after the first was published (%.0f records/s); largest lag seen %.0f records; caught up %s after publishing ended\n",
		src.name(), n, pub.Round(time.Millisecond), total.Round(time.Millisecond), float64(n)/total.Seconds(), lag, el.Round(time.Millisecond))
	return nil
}

func run(emberPath, echo string, args []string, burst int, sources []string, logger *slog.Logger) error {
	ctx := context.Background()
	st, err := harness.NewStandalone(ctx, "esm", emberPath, echo, "AKIAEMBERBENCH000003")
	if err != nil {
		return err
	}
	defer st.Close()
	work, creds := st.WorkDir, st.Creds
	natsAddr, metricsAddr := harness.MustFreeAddr(), harness.MustFreeAddr()
	e, err := st.Start(ctx, append([]string{"--nats-listen", natsAddr, "--metrics-listen", metricsAddr}, args...), 1769)
	if err != nil {
		return err
	}
	defer e.Stop()
	target, err := e.Deploy(ctx, "noop")
	if err != nil {
		return err
	}
	base := strings.TrimSuffix(target.URL, "/2015-03-31/functions/noop/invocations")
	lc := lambda.New(lambda.Options{Region: "us-east-1", BaseEndpoint: aws.String(base), RetryMaxAttempts: 1,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return creds, nil })})
	b := &bench{lc: lc, metrics: metricsAddr, fn: "noop"}
	fmt.Printf("# esm bench, %s, isolation %q, no-op function at 1,769 MB\n", time.Now().UTC().Format(time.RFC3339), e.Isolation)
	for _, name := range sources {
		var src source
		switch name {
		case "jetstream":
			src, err = newJetStream(natsAddr)
		case "kafka":
			src, err = newKafka()
		case "rabbitmq":
			src, err = newRabbit(work, e)
			if errors.Is(err, exec.ErrNotFound) {
				fmt.Println("rabbitmq: skipped (rabbitmq-server is not installed)")
				continue
			}
		default:
			return fmt.Errorf("unknown source %q", name)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		for _, c := range []struct{ batch, n int }{{1, 2000}, {10, 10000}, {100, 30000}} {
			if err := b.throughput(ctx, src, c.batch, c.n); err != nil {
				src.close()
				return fmt.Errorf("%s batch %d: %w", name, c.batch, err)
			}
		}
		if burst > 0 {
			if err := b.burstLag(ctx, src, burst); err != nil {
				src.close()
				return fmt.Errorf("%s burst: %w", name, err)
			}
		}
		src.close()
	}
	return nil
}

// JetStream.

type jsSource struct {
	nc *nats.Conn
	js jetstream.JetStream
}

func newJetStream(addr string) (source, error) {
	nc, err := nats.Connect("nats://" + addr)
	if err != nil {
		return nil, err
	}
	js, _ := jetstream.New(nc)
	return &jsSource{nc: nc, js: js}, nil
}

func (s *jsSource) name() string { return "jetstream" }

func (s *jsSource) prepare(ctx context.Context, id string) error {
	_, err := s.js.CreateStream(ctx, jetstream.StreamConfig{Name: id, Subjects: []string{id + ".>"}, Storage: jetstream.FileStorage})
	return err
}

func (s *jsSource) publish(ctx context.Context, id string, n int) error {
	const window = 1000
	futures := make([]jetstream.PubAckFuture, 0, window)
	for i := range n {
		f, err := s.js.PublishAsync(id+".r", []byte(`{"n":`+strconv.Itoa(i)+`}`))
		if err != nil {
			return err
		}
		futures = append(futures, f)
		if len(futures) == window || i == n-1 {
			for _, f := range futures {
				select {
				case <-f.Ok():
				case err := <-f.Err():
					return err
				}
			}
			futures = futures[:0]
		}
	}
	return nil
}

func (s *jsSource) mapping(id string) *lambda.CreateEventSourceMappingInput {
	return &lambda.CreateEventSourceMappingInput{EventSourceArn: aws.String("arn:aws:nats:us-east-1:000000000000:stream:" + id),
		StartingPosition: types.EventSourcePositionTrimHorizon}
}

func (s *jsSource) close() { s.nc.Close() }

// Kafka, in process.

type kafkaSource struct {
	c  *kfake.Cluster
	cl *kgo.Client
}

func newKafka() (source, error) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.AllowAutoTopicCreation(), kfake.DefaultNumPartitions(4))
	if err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.AllowAutoTopicCreation())
	if err != nil {
		c.Close()
		return nil, err
	}
	return &kafkaSource{c: c, cl: cl}, nil
}

func (s *kafkaSource) name() string { return "kafka" }

func (s *kafkaSource) prepare(ctx context.Context, id string) error { return nil }

func (s *kafkaSource) publish(ctx context.Context, id string, n int) error {
	const chunk = 1000
	for i := 0; i < n; i += chunk {
		rs := make([]*kgo.Record, 0, chunk)
		for j := i; j < min(i+chunk, n); j++ {
			rs = append(rs, &kgo.Record{Topic: id, Key: []byte(strconv.Itoa(j % 16)), Value: []byte(`{"n":` + strconv.Itoa(j) + `}`)})
		}
		if err := s.cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
			return err
		}
	}
	return nil
}

func (s *kafkaSource) mapping(id string) *lambda.CreateEventSourceMappingInput {
	return &lambda.CreateEventSourceMappingInput{Topics: []string{id}, StartingPosition: types.EventSourcePositionTrimHorizon,
		SelfManagedEventSource: &types.SelfManagedEventSource{Endpoints: map[string][]string{"KAFKA_BOOTSTRAP_SERVERS": s.c.ListenAddrs()}}}
}

func (s *kafkaSource) close() { s.cl.Close(); s.c.Close() }

// RabbitMQ: Debian's rabbitmq-server on ports of its own.

type rabbitSource struct {
	cmd  *exec.Cmd
	epmd int
	addr string
	conn *amqp.Connection
	ch   *amqp.Channel
}

func freePort() int {
	_, p, _ := net.SplitHostPort(harness.MustFreeAddr())
	n, _ := strconv.Atoi(p)
	return n
}

func newRabbit(work string, e *harness.Ember) (source, error) {
	if _, err := exec.LookPath("rabbitmq-server"); err != nil {
		return nil, err
	}
	dir := filepath.Join(work, "rabbitmq")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	port, dist, epmd := freePort(), freePort(), freePort()
	cmd := exec.Command("/usr/lib/rabbitmq/bin/rabbitmq-server")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+dir, "RABBITMQ_MNESIA_BASE="+filepath.Join(dir, "mnesia"), "RABBITMQ_LOG_BASE="+filepath.Join(dir, "log"),
		fmt.Sprintf("RABBITMQ_NODENAME=ember-bench-%d@localhost", port), "RABBITMQ_NODE_IP_ADDRESS=127.0.0.1",
		"RABBITMQ_NODE_PORT="+strconv.Itoa(port), "RABBITMQ_DIST_PORT="+strconv.Itoa(dist), "ERL_EPMD_PORT="+strconv.Itoa(epmd),
		"RABBITMQ_ENABLED_PLUGINS_FILE="+filepath.Join(dir, "enabled_plugins"), "RABBITMQ_PID_FILE="+filepath.Join(dir, "pid"),
		"RABBITMQ_CONFIG_FILE="+filepath.Join(dir, "rabbitmq"), "RABBITMQ_ADVANCED_CONFIG_FILE="+filepath.Join(dir, "advanced.config"),
		"RABBITMQ_CONF_ENV_FILE="+filepath.Join(dir, "rabbitmq-env.conf"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &rabbitSource{cmd: cmd, epmd: epmd, addr: "127.0.0.1:" + strconv.Itoa(port)}
	deadline := time.Now().Add(2 * time.Minute)
	var err error
	for {
		if s.conn, err = amqp.Dial("amqp://guest:guest@" + s.addr + "/"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			s.close()
			return nil, fmt.Errorf("rabbitmq-server did not start: %w", err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	if s.ch, err = s.conn.Channel(); err != nil {
		s.close()
		return nil, err
	}
	if err := s.ch.Confirm(false); err != nil {
		s.close()
		return nil, err
	}
	// The server's data dir is the one StartEmber made under work: find it to write the secret.
	dirs, _ := filepath.Glob(filepath.Join(work, "ember-data-*"))
	for _, d := range dirs {
		os.MkdirAll(filepath.Join(d, "secrets"), 0o700)
		if err := os.WriteFile(filepath.Join(d, "secrets", "bench"), []byte(`{"username":"guest","password":"guest"}`), 0o600); err != nil {
			s.close()
			return nil, err
		}
	}
	return s, nil
}

func (s *rabbitSource) name() string { return "rabbitmq" }

func (s *rabbitSource) prepare(ctx context.Context, id string) error {
	_, err := s.ch.QueueDeclare(id, true, false, false, false, nil)
	return err
}

func (s *rabbitSource) publish(ctx context.Context, id string, n int) error {
	const window = 1000
	var pending []*amqp.DeferredConfirmation
	for i := range n {
		dc, err := s.ch.PublishWithDeferredConfirmWithContext(ctx, "", id, false, false, amqp.Publishing{DeliveryMode: 2,
			Body: []byte(`{"n":` + strconv.Itoa(i) + `}`)})
		if err != nil {
			return err
		}
		pending = append(pending, dc)
		if len(pending) == window || i == n-1 {
			for _, dc := range pending {
				if !dc.Wait() {
					return errors.New("a publish was not confirmed")
				}
			}
			pending = pending[:0]
		}
	}
	return nil
}

func (s *rabbitSource) mapping(id string) *lambda.CreateEventSourceMappingInput {
	return &lambda.CreateEventSourceMappingInput{EventSourceArn: aws.String("arn:aws:mq:us-east-1:000000000000:broker:" + s.addr),
		Queues: []string{id}, SourceAccessConfigurations: []types.SourceAccessConfiguration{
			{Type: types.SourceAccessTypeBasicAuth, URI: aws.String("arn:aws:secretsmanager:us-east-1:000000000000:secret:bench")}}}
}

func (s *rabbitSource) close() {
	if s.conn != nil {
		s.conn.Close()
	}
	syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
	s.cmd.Wait()
	exec.Command("epmd", "-port", strconv.Itoa(s.epmd), "-kill").Run()
}
