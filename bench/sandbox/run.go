package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/ember-serverless/ember/bench/internal/harness"
	"github.com/ember-serverless/ember/internal/sandbox"
	"github.com/ember-serverless/ember/internal/sandbox/jail"
)

type config struct {
	Backends []string
	Echo     string
	Ember    string
	N        int
	Rounds   int
	MemoryMB int
	Create   int
	Creators int
	Idle     int
}

// Row is one figure of the report.
type Row struct {
	Target string  `json:"target"`
	Phase  string  `json:"phase"`
	N      int     `json:"n,omitempty"`
	P50Ms  float64 `json:"p50_ms,omitempty"`
	P90Ms  float64 `json:"p90_ms,omitempty"`
	P99Ms  float64 `json:"p99_ms,omitempty"`
	MeanMs float64 `json:"mean_ms,omitempty"`
	// Value is the figure of rows that are not latencies, in Unit.
	Value float64 `json:"value,omitempty"`
	Unit  string  `json:"unit,omitempty"`
	Note  string  `json:"note,omitempty"`
}

// Report is what a run writes.
type Report struct {
	Date    string `json:"date"`
	Machine string `json:"machine"`
	Config  config `json:"config"`
	Rows    []Row  `json:"rows"`
}

type target struct {
	name, phase, note string
	once              func(ctx context.Context) ([]time.Duration, error) // one round's samples
	samples           []time.Duration
	err               error
}

func run(ctx context.Context, cfg config, workDir, jsonOut string, logger *slog.Logger) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("run as root: the backends need it")
	}
	if workDir == "" {
		dir, err := os.MkdirTemp("", "ember-bench-sandbox-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		workDir = dir
	}
	// Sandboxes run as unprivileged host users: they must be able to reach the code.
	if err := os.MkdirAll(workDir, 0o755); err != nil {
		return err
	}
	if err := os.Chmod(workDir, 0o755); err != nil {
		return err
	}
	rep := &Report{Date: time.Now().UTC().Format(time.RFC3339), Machine: machine(), Config: cfg}
	code := filepath.Join(workDir, "code")
	if err := os.MkdirAll(code, 0o755); err != nil {
		return err
	}
	bootstrap, err := harness.Resolve(ctx, cfg.Echo, ".", filepath.Join(code, "bootstrap"))
	if err != nil {
		return err
	}
	if filepath.Dir(bootstrap) != code {
		b, err := os.ReadFile(bootstrap)
		if err != nil {
			return err
		}
		bootstrap = filepath.Join(code, "bootstrap")
		if err := os.WriteFile(bootstrap, b, 0o755); err != nil {
			return err
		}
	}
	var emberBin string
	if cfg.Ember != "" {
		if emberBin, err = harness.ResolveEmber(ctx, cfg.Ember, filepath.Join(workDir, "ember")); err != nil {
			return err
		}
	}

	// The jail starts sandboxes with ember-init, as ember server does, when it was built beside
	// ember; otherwise with this program's own binary.
	initPath, initNote := "", "init: this bench's binary"
	if emberBin != "" {
		if p := jail.InitBeside(emberBin); p != "" {
			initPath, initNote = p, "init: ember-init"
		}
	}
	backends := map[string]closer{}
	for _, name := range cfg.Backends {
		b, err := newBackend(name, workDir, initPath, logger.With("backend", name))
		if err != nil {
			return fmt.Errorf("backend %s: %w", name, err)
		}
		defer b.Close()
		backends[name] = b
	}

	// Cold starts, every target once per round in a rotated order.
	targets := []*target{
		{name: "exec", phase: "fork+exec to connect", note: "bare exec of the bootstrap until it connects to its Runtime API",
			once: repeat(cfg.N, func(ctx context.Context) (time.Duration, error) { return forkExec(ctx, bootstrap) })},
		{name: "exec-ns", phase: "fork+exec in new namespaces to connect", note: "new net namespace with lo up and the listener, then user, pid, mount, ipc, uts namespaces; nothing else",
			once: repeat(cfg.N, func(ctx context.Context) (time.Duration, error) { return forkExecNS(ctx, bootstrap) })},
	}
	for _, name := range cfg.Backends {
		b := backends[name]
		targets = append(targets, &target{name: name, phase: "Create+Start+first answer", note: fmt.Sprintf("backend only, %d MB%s", cfg.MemoryMB, jailNote(name, initNote)),
			once: repeat(cfg.N, func(ctx context.Context) (time.Duration, error) { return coldStart(ctx, b, code, cfg.MemoryMB) })})
	}
	if emberBin != "" {
		for _, name := range cfg.Backends {
			targets = append(targets, &target{name: "ember " + name, phase: "cold start, client-observed",
				note: fmt.Sprintf("first invoke of each of %d functions created beforehand on `ember server --isolation %s`, %d MB", cfg.N, name, cfg.MemoryMB),
				once: func(ctx context.Context) ([]time.Duration, error) {
					return serverCold(ctx, emberBin, name, bootstrap, workDir, cfg)
				}})
		}
	}
	for round := range cfg.Rounds {
		for i := range targets {
			t := targets[(i+round)%len(targets)]
			if t.err != nil {
				continue
			}
			logger.Info("cold starts", "round", round+1, "target", t.name)
			s, err := t.once(ctx)
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if err != nil {
				logger.Warn("not measured", "target", t.name, "err", err)
				t.err = err
			}
			t.samples = append(t.samples, s...)
		}
	}
	for _, t := range targets {
		r := latencyRow(t.name, t.phase, t.samples)
		r.Note = t.note
		if t.err != nil {
			r.Note = join(r.Note, "FAILED: "+t.err.Error())
		}
		rep.Rows = append(rep.Rows, r)
	}

	// Creation rate and idle memory, one backend at a time.
	for _, name := range cfg.Backends {
		b := backends[name]
		n, idle := cfg.Create, cfg.Idle
		if name == "gvisor" {
			n, idle = max(n/5, 1), max(idle/5, 1)
		}
		logger.Info("creation rate", "backend", name, "sandboxes", n, "creators", cfg.Creators)
		lives, rate, err := createRate(ctx, b, code, cfg.MemoryMB, n, cfg.Creators)
		r := Row{Target: name, Phase: "sandboxes created per second", N: len(lives), Value: rate, Unit: "/s",
			Note: fmt.Sprintf("Create+Start until the runtime asks for work, %d concurrent creators%s", cfg.Creators, jailNote(name, initNote))}
		if err != nil {
			r.Note = join(r.Note, "FAILED: "+err.Error())
		}
		rep.Rows = append(rep.Rows, r)
		destroyAll(lives)

		logger.Info("idle memory", "backend", name, "sandboxes", idle)
		rows, err := idleMemory(ctx, b, name, code, bootstrap, cfg.MemoryMB, idle, max(cfg.Rounds, 5))
		if err != nil {
			logger.Warn("idle memory not measured", "backend", name, "err", err)
			rows = append(rows, Row{Target: name, Phase: "idle sandbox memory", Note: "FAILED: " + err.Error()})
		}
		rep.Rows = append(rep.Rows, rows...)
	}

	print(os.Stdout, rep)
	if jsonOut != "" {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		return os.WriteFile(jsonOut, append(b, '\n'), 0o644)
	}
	return nil
}

func repeat(n int, f func(context.Context) (time.Duration, error)) func(context.Context) ([]time.Duration, error) {
	return func(ctx context.Context) ([]time.Duration, error) {
		var out []time.Duration
		for range n {
			d, err := f(ctx)
			if err != nil {
				return out, err
			}
			out = append(out, d)
		}
		return out, nil
	}
}

func destroyAll(lives []*live) {
	for _, l := range lives {
		l.destroy()
	}
}

// idleMemory measures, in each of rounds rounds, the host memory in use before and after n
// sandboxes are started, invoked once and frozen, then the same for n bare runtimes invoked
// once; a round's cost beyond the runtime is the difference of its two per-unit figures, and
// the report gives the median over rounds of each (pairing within a round keeps slow drift of
// the shared machine out of the difference).
func idleMemory(ctx context.Context, b sandbox.Backend, name, code, bootstrap string, memoryMB, n, rounds int) ([]Row, error) {
	var perSandbox, perBare, beyond, rss []float64
	for range rounds {
		settle()
		before := usedKiB()
		var lives []*live
		for range n {
			l, err := start(ctx, b, code, memoryMB)
			if err != nil {
				destroyAll(lives)
				return nil, err
			}
			lives = append(lives, l)
			if err := l.api.invoke(ctx, l.sb.Done(), []byte(`{"idle":1}`)); err != nil {
				destroyAll(lives)
				return nil, err
			}
			if err := l.sb.Freeze(); err != nil {
				destroyAll(lives)
				return nil, err
			}
		}
		settle()
		after := usedKiB()
		destroyAll(lives)
		ps := float64(after-before) / float64(n)

		settle()
		before = usedKiB()
		var bares []*bareRuntime
		for range n {
			br, err := startBare(ctx, bootstrap)
			if err != nil {
				for _, x := range bares {
					x.stop()
				}
				return nil, err
			}
			bares = append(bares, br)
		}
		settle()
		after = usedKiB()
		var sum int64
		for _, br := range bares {
			sum += rssKiB(br.cmd.Process.Pid)
		}
		for _, br := range bares {
			br.stop()
		}
		pb := float64(after-before) / float64(n)
		perSandbox, perBare, beyond = append(perSandbox, ps), append(perBare, pb), append(beyond, ps-pb)
		rss = append(rss, float64(sum)/float64(n))
	}
	return []Row{
		{Target: name, Phase: "idle sandbox, host memory each", N: n, Value: median(perSandbox) / 1024, Unit: "MiB",
			Note: fmt.Sprintf("host memory in use but the page cache (AnonPages+Shmem+Slab+KernelStack+PageTables+Percpu) with %d sandboxes invoked once and frozen, minus before; median of rounds %s", n, kib(perSandbox))},
		{Target: "exec", Phase: "bare runtime, host memory each", N: n, Value: median(perBare) / 1024, Unit: "MiB",
			Note: fmt.Sprintf("the same for %d plain processes of the function invoked once (VmRSS %.1f MiB each, mostly shared file pages); rounds %s", n, median(rss)/1024, kib(perBare))},
		{Target: name, Phase: "idle sandbox beyond its runtime", N: n, Value: median(beyond) / 1024, Unit: "MiB",
			Note: "median over rounds of each round's difference of the two rows above " + kib(beyond)},
	}, nil
}

func kib(v []float64) string {
	var s []string
	for _, x := range v {
		s = append(s, fmt.Sprintf("%.2f", x/1024))
	}
	return "[" + strings.Join(s, " ") + " MiB]"
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// serverCold starts `ember server --isolation name`, creates n functions, waits for each to
// be Active, invokes each once and returns the client-observed durations.
func serverCold(ctx context.Context, bin, name, bootstrap, workDir string, cfg config) ([]time.Duration, error) {
	zip, err := harness.ZipBootstrap(bootstrap)
	if err != nil {
		return nil, err
	}
	creds := aws.Credentials{AccessKeyID: "AKIA" + randHex(8), SecretAccessKey: randHex(20)}
	e, err := harness.StartEmber(ctx, harness.EmberConfig{Bin: bin, Args: []string{"--isolation", name}, Creds: creds,
		Region: "us-east-1", Zip: zip, MemorySize: int32(cfg.MemoryMB), WorkDir: workDir})
	if err != nil {
		return nil, err
	}
	defer e.Stop()
	client := harness.NewClient(creds, "us-east-1", 2)
	defer client.CloseIdle()
	var urls []string
	for i := range cfg.N {
		t, err := e.Deploy(ctx, fmt.Sprintf("cold-%d", i))
		if err != nil {
			return nil, err
		}
		urls = append(urls, t.URL)
	}
	var out []time.Duration
	for _, u := range urls {
		d, err := client.Invoke(ctx, u)
		if err != nil {
			return out, err
		}
		out = append(out, d)
	}
	return out, nil
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return strings.ToUpper(hex.EncodeToString(b))[:n]
}

func latencyRow(name, phase string, samples []time.Duration) Row {
	r := Row{Target: name, Phase: phase, N: len(samples)}
	if len(samples) == 0 {
		return r
	}
	s := slices.Clone(samples)
	slices.Sort(s)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	rank := func(p float64) time.Duration {
		i := int(p*float64(len(s))+0.999999) - 1
		return s[min(max(i, 0), len(s)-1)]
	}
	var sum time.Duration
	for _, d := range s {
		sum += d
	}
	r.P50Ms, r.P90Ms, r.P99Ms, r.MeanMs = ms(rank(0.5)), ms(rank(0.9)), ms(rank(0.99)), ms(sum/time.Duration(len(s)))
	return r
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

func print(w *os.File, rep *Report) {
	fmt.Fprintf(w, "%s  %s\n\n", rep.Date, rep.Machine)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "target\tphase\tn\tp50 ms\tp90 ms\tp99 ms\tmean ms\tvalue\tnote")
	for _, r := range rep.Rows {
		val := ""
		if r.Unit != "" {
			val = fmt.Sprintf("%.2f %s", r.Value, r.Unit)
		}
		lat := func(v float64) string {
			if v == 0 {
				return ""
			}
			return fmt.Sprintf("%.2f", v)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Target, r.Phase, r.N, lat(r.P50Ms), lat(r.P90Ms), lat(r.P99Ms), lat(r.MeanMs), val, r.Note)
	}
	tw.Flush()
}

// machine describes where the bench ran: CPUs, CPU model, kernel, Go, runsc and the commit.
func machine() string {
	model := "?"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range splitLines(string(b)) {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	runsc, _ := exec.Command("runsc", "--version").Output()
	rv, _, _ := strings.Cut(string(runsc), "\n")
	commit, _ := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	return fmt.Sprintf("%d CPUs, %s, kernel %s, %s, %s, commit %s", runtime.NumCPU(), model,
		strings.TrimSpace(string(kernel)), runtime.Version(), strings.TrimSpace(rv), strings.TrimSpace(string(commit)))
}

// jailNote is ", note" for the jail, which the note is about, and nothing for other backends.
func jailNote(backend, note string) string {
	if backend != "jail" {
		return ""
	}
	return ", " + note
}
