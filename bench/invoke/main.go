// Command invoke benchmarks warm invoke latency and throughput, or cold starts, of Ember beside
// shared/bench/floor and the AWS Runtime Interface Emulator, on the same aws-lambda-go echo
// function in the same run. Run it from the repository root:
//
//	go run ./bench/invoke -floor ../shared/bench/floor -rie /tmp/aws-lambda-rie -ember .
//	go run ./bench/invoke -floor ../shared/bench/floor -ember . -memory 128,1769 -rounds 8
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
	"path/filepath"
	"strconv"
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
	memory := flag.String("memory", "128,1769", "the echo function's MemorySize on Ember, in MB (128 is Lambda's default, 1769 one vCPU); several, comma-separated, are measured one after another, each beside floor and the emulator again")
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
	cfg.EmberArgs = strings.Fields(*emberArgs)
	sizes, err := memorySizes(*memory)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench: -memory:", err)
		os.Exit(2)
	}

	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	base := cfg.EmberArgs
	for _, mb := range sizes {
		cfg.MemorySize = mb
		cfg.EmberArgs = harness.WithRoomFor(base, cfg.Clients, mb)
		out := *jsonOut
		if len(sizes) > 1 {
			fmt.Printf("\nMemorySize %d MB\n", mb)
			if out != "" {
				ext := filepath.Ext(out)
				out = fmt.Sprintf("%s-%dmb%s", strings.TrimSuffix(out, ext), mb, ext)
			}
		}
		if err := run(*mode, cfg, *workDir, out, logger); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
	}
}

// memorySizes parses a comma-separated list of MemorySizes in MB.
func memorySizes(list string) ([]int32, error) {
	var sizes []int32
	for _, f := range strings.Split(list, ",") {
		mb, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || mb < 128 || mb > 10240 {
			return nil, fmt.Errorf("%q: want MemorySizes between 128 and 10240 MB, comma-separated", list)
		}
		sizes = append(sizes, int32(mb))
	}
	return sizes, nil
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
