// Command invoke benchmarks warm invoke latency and throughput, or cold starts, of Ember beside
// shared/bench/floor and the AWS Runtime Interface Emulator, on the same aws-lambda-go echo
// function in the same run. Run it from the repository root:
//
//	go run ./bench/invoke -floor ../shared/bench/floor -rie /tmp/aws-lambda-rie -ember .
//	go run ./bench/invoke -mode cold -rie /tmp/aws-lambda-rie -ember .
//	go run ./bench/invoke -mode runtimes -ember . -functions 20
//
// bench/README.md says what each figure means.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/ember-serverless/ember/bench/internal/harness"
)

func main() {
	var cfg harness.Config
	mode := flag.String("mode", "warm", `"warm" (latency and throughput), "cold" (cold starts) or "runtimes" (Ember's Node.js and Python runtimes, cold and warm)`)
	flag.StringVar(&cfg.Echo, "echo", "./bench/functions/echo", "echo function: bootstrap binary or package dir")
	flag.StringVar(&cfg.Floor, "floor", "", "shared/bench/floor: binary or source dir (empty: skip)")
	flag.StringVar(&cfg.RIE, "rie", "", "aws-lambda-rie binary built from its public source (empty: skip)")
	flag.StringVar(&cfg.Ember, "ember", "", "ember binary, or module root to build ./cmd/ember from (empty: skip)")
	emberArgs := flag.String("ember-args", "", "extra space-separated arguments for `ember server`, e.g. \"--isolation jail\"")
	memory := flag.Int("memory", 1769, "the echo function's MemorySize on Ember, in MB (1769 = one vCPU)")
	flag.IntVar(&cfg.Warmup, "warmup", 200, "sequential warm-up invokes before measuring")
	flag.IntVar(&cfg.Invokes, "n", 2000, "sequential invokes measured per round at one client")
	flag.IntVar(&cfg.Clients, "clients", 16, "concurrent clients (and floor runtimes) for throughput")
	flag.DurationVar(&cfg.WarmupDuration, "warmup-duration", time.Second, "concurrent warm-up before measuring throughput")
	flag.DurationVar(&cfg.Duration, "duration", 5*time.Second, "concurrent run measured per round")
	flag.IntVar(&cfg.Rounds, "rounds", 3, "rounds; samples are pooled over them")
	flag.IntVar(&cfg.Functions, "functions", 50, "cold mode: functions created and invoked once each")
	flag.StringVar(&cfg.Region, "region", "us-east-1", "region requests are signed for")
	jsonOut := flag.String("json", "", "also write the results as JSON to this file")
	workDir := flag.String("workdir", "", "directory for builds, data dirs and logs (default: a temp dir, removed after)")
	flag.Parse()
	cfg.MemorySize = int32(*memory)
	cfg.EmberArgs = strings.Fields(*emberArgs)

	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(*mode, cfg, *workDir, *jsonOut, logger); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(mode string, cfg harness.Config, workDir, jsonOut string, logger *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if workDir == "" {
		dir, err := harness.DefaultWorkDir()
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		workDir = dir
	}
	cfg.WorkDir = workDir

	var rep *harness.Report
	var err error
	switch mode {
	case "warm":
		rep, err = harness.RunWarm(ctx, cfg, logger)
	case "cold":
		rep, err = harness.RunCold(ctx, cfg, logger)
	case "runtimes":
		rep, err = harness.RunRuntimes(ctx, cfg, logger)
	default:
		return fmt.Errorf("-mode %q: want warm, cold or runtimes", mode)
	}
	if err != nil {
		return err
	}
	if err := rep.WriteTable(os.Stdout); err != nil {
		return err
	}
	if jsonOut != "" {
		return rep.WriteJSON(jsonOut)
	}
	return nil
}
