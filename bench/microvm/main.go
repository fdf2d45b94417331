// Command microvm measures the microvm isolation backend on this host: boot to first answer,
// snapshot, restore to first answer, clones per second, warm invokes per second, and the
// memory (PSS) of idle VMs booted afresh and restored from one snapshot. It prints a table
// (and JSON with -json) for bench/README.md. Run it as root from the module root after
// scripts/setup (QEMU and the guest kernel in .cache/vmtest/kernel):
//
//	go run ./bench/microvm -n 3 -clones 6
//
// Under TCG (no usable KVM) every figure is that of software emulation; on a host with KVM
// pass -accel kvm to measure the same with hardware virtualization.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ember-serverless/ember/internal/sandbox"
	"github.com/ember-serverless/ember/internal/sandbox/microvm"
	"github.com/ember-serverless/ember/internal/sandbox/sandboxtest"
)

type results struct {
	Accel             string    `json:"accel"`
	MemoryMB          int       `json:"memoryMB"`
	OverheadMB        int       `json:"overheadMB"`
	BootToAnswerMs    []float64 `json:"bootToAnswerMs"`
	SnapshotMs        float64   `json:"snapshotMs"`
	RestoreToAnswerMs []float64 `json:"restoreToAnswerMs"`
	ClonesPerSecond   float64   `json:"clonesPerSecond"`
	WarmInvokesPerSec float64   `json:"warmInvokesPerSecond"`
	PSSBootedMiB      float64   `json:"pssBootedMiB"`
	PSSRestoredMiB    float64   `json:"pssRestoredMiB"`
}

func main() {
	n := flag.Int("n", 3, "boots and restores measured one after the other")
	clones := flag.Int("clones", 6, "VMs restored for the clone rate and the memory figure")
	par := flag.Int("parallel", 2, "concurrent restores for the clone rate")
	memoryMB := flag.Int("memory", 128, "MemorySize of every sandbox")
	accel := flag.String("accel", "tcg", "tcg, kvm or auto")
	warm := flag.Duration("warm", 5*time.Second, "how long to invoke a warm VM")
	jsonOut := flag.String("json", "", "also write the results as JSON to this file")
	verbose := flag.Bool("v", false, "log the backend's phases (restore breakdown)")
	tbMB := flag.Int("tb-size", 0, "TCG translation cache per VM in MB (0: QEMU's default)")
	flag.Parse()
	work, err := os.MkdirTemp("", "ember-bench-microvm-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(work)
	agent := filepath.Join(work, microvm.AgentProgram)
	code := filepath.Join(work, "code")
	os.MkdirAll(code, 0o755)
	for _, b := range [][]string{
		{"build", "-o", agent, "./cmd/ember-vmagent"},
		{"build", "-tags", "lambda.norpc", "-trimpath", "-o", filepath.Join(code, "bootstrap"), "./internal/sandbox/sandboxtest/testruntime"},
	} {
		cmd := exec.Command("go", b...)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			log.Fatalf("go %v: %v\n%s", b, err, out)
		}
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelDebug
	}
	kernel := os.Getenv("EMBER_MICROVM_KERNEL")
	if kernel == "" {
		kernel, _ = filepath.Abs(filepath.Join(".cache", "vmtest", "kernel"))
	}
	b, err := microvm.New(microvm.Config{
		KernelDir: kernel, AgentPath: agent,
		StateDir: filepath.Join(work, "state"), CacheDir: filepath.Join(work, "cache"),
		MemDir: filepath.Join("/dev/shm", filepath.Base(work)), Accel: *accel, TCGCacheMB: *tbMB,
	}, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})))
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	defer os.RemoveAll(filepath.Join("/dev/shm", filepath.Base(work)))
	res := results{MemoryMB: *memoryMB, OverheadMB: b.MemoryOverheadMB()}
	ctx := context.Background()
	seq := 0
	newVM := func(key string) (*vm, time.Duration) {
		seq++
		start := time.Now()
		v, err := startVM(ctx, b, code, fmt.Sprintf("bench-%d-%d", os.Getpid(), seq), key, *memoryMB)
		if err != nil {
			log.Fatal(err)
		}
		if got := v.echo(ctx, "first"); got != "first" {
			log.Fatalf("first answer %q", got)
		}
		return v, time.Since(start)
	}

	var booted []*vm
	for range *n {
		v, d := newVM("")
		res.BootToAnswerMs = append(res.BootToAnswerMs, ms(d))
		booted = append(booted, v)
	}
	res.PSSBootedMiB = pssMiB(booted)
	for _, v := range booted {
		v.destroy()
	}
	res.Accel = b.Accel()

	key := fmt.Sprintf("bench-%d", os.Getpid())
	orig, _ := newVM(key)
	start := time.Now()
	if err := orig.sb.(sandbox.Snapshotter).Snapshot(ctx); err != nil {
		log.Fatal(err)
	}
	res.SnapshotMs = ms(time.Since(start))
	orig.echo(ctx, "after")
	orig.destroy()

	var restored []*vm
	for range *n {
		v, d := newVM(key)
		res.RestoreToAnswerMs = append(res.RestoreToAnswerMs, ms(d))
		restored = append(restored, v)
	}
	// Clones per second: restored *par at a time, each to its first answer.
	var mu sync.Mutex
	start = time.Now()
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range *par {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range jobs {
				mu.Lock()
				seq++
				id := fmt.Sprintf("bench-%d-%d", os.Getpid(), seq)
				mu.Unlock()
				v, err := startVM(ctx, b, code, id, key, *memoryMB)
				if err != nil {
					log.Fatal(err)
				}
				v.echo(ctx, "clone")
				mu.Lock()
				restored = append(restored, v)
				mu.Unlock()
			}
		}()
	}
	for i := range *clones {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	res.ClonesPerSecond = float64(*clones) / time.Since(start).Seconds()
	// Let the clones settle idle before their memory is read.
	time.Sleep(2 * time.Second)
	res.PSSRestoredMiB = pssMiB(restored)
	// Warm invokes on one restored VM, one client.
	w := restored[0]
	count := 0
	for end := time.Now().Add(*warm); time.Now().Before(end); count++ {
		w.echo(ctx, "w")
	}
	res.WarmInvokesPerSec = float64(count) / warm.Seconds()
	for _, v := range restored {
		v.destroy()
	}

	fmt.Printf("microvm backend, accel %s, MemorySize %d MB + %d MB overhead per VM\n", res.Accel, res.MemoryMB, res.OverheadMB)
	fmt.Printf("boot to first answer (ms):     %v (median %.0f)\n", res.BootToAnswerMs, median(res.BootToAnswerMs))
	fmt.Printf("snapshot (ms):                 %.0f\n", res.SnapshotMs)
	fmt.Printf("restore to first answer (ms):  %v (median %.0f)\n", res.RestoreToAnswerMs, median(res.RestoreToAnswerMs))
	fmt.Printf("clones per second (%d at a time): %.2f\n", *par, res.ClonesPerSecond)
	fmt.Printf("warm invokes per second (1 client): %.1f\n", res.WarmInvokesPerSec)
	fmt.Printf("PSS per idle VM (MiB): booted %.1f, restored %.1f\n", res.PSSBootedMiB, res.PSSRestoredMiB)
	if *jsonOut != "" {
		out, _ := json.MarshalIndent(res, "", "  ")
		if err := os.WriteFile(*jsonOut, out, 0o644); err != nil {
			log.Fatal(err)
		}
	}
}

type vm struct {
	id  string
	sb  sandbox.Sandbox
	api *sandboxtest.RuntimeAPI
	out *os.File
}

func startVM(ctx context.Context, b sandbox.Backend, code, id, key string, memoryMB int) (*vm, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
		}
		r.Close()
	}()
	sb, err := b.Create(ctx, sandbox.Spec{
		ID: id, Runtime: "provided.al2023", CodeDir: code, Command: []string{"/var/task/bootstrap"},
		Env: []string{"PATH=/usr/bin:/bin"}, MemoryMB: memoryMB, EphemeralStorageMB: 512, Output: w, SnapshotKey: key,
	})
	if err != nil {
		w.Close()
		return nil, err
	}
	v := &vm{id: id, sb: sb, api: sandboxtest.ServeRuntimeAPI(sb.RuntimeAPI()), out: w}
	if err := sb.Start(ctx); err != nil {
		v.destroy()
		return nil, err
	}
	return v, nil
}

func (v *vm) echo(ctx context.Context, s string) string {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	b, _ := json.Marshal(sandboxtest.Event{Op: "echo", Value: s})
	resp, err := v.api.Invoke(ctx, v.sb.Done(), b)
	if err != nil {
		log.Fatalf("%s: invoke: %v", v.id, err)
	}
	var res sandboxtest.Result
	json.Unmarshal(resp.Payload, &res)
	return res.Value
}

func (v *vm) destroy() {
	v.api.Close()
	v.sb.Destroy(context.Background())
	v.out.Close()
}

// pssMiB is the mean proportional set size of the VMs' QEMU processes.
func pssMiB(vms []*vm) float64 {
	var total float64
	for _, v := range vms {
		total += pssOf(v.id)
	}
	return total / float64(len(vms)) / 1024
}

// pssOf is the PSS in KiB of the QEMU process of VM id (found by its directory).
func pssOf(id string) float64 {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		c, err := os.ReadFile(p)
		if err != nil || !strings.Contains(string(c), "vm-"+id+"/") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(filepath.Dir(p), "smaps_rollup"))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "Pss:" {
				kb, _ := strconv.ParseFloat(f[1], 64)
				return kb
			}
		}
	}
	return 0
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}
