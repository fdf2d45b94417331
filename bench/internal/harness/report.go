package harness

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Row is one line of the results table.
type Row struct {
	Target string `json:"target"`
	// Phase says what was measured: "1 client", "16 clients", "cold start", "fork+exec".
	Phase    string `json:"phase"`
	Clients  int    `json:"clients"`
	Runtimes int    `json:"runtimes,omitempty"`
	// N is how many latencies were kept (successful invokes).
	N      int     `json:"n"`
	P50Ms  float64 `json:"p50_ms"`
	P99Ms  float64 `json:"p99_ms"`
	MeanMs float64 `json:"mean_ms"`
	// RPS is successful invokes per second; for one client it is the sequential rate.
	RPS    float64 `json:"rps"`
	Errors int     `json:"errors"`
	// ServerCPUUs is the server process's own CPU time (user+system, not its runtimes') per
	// measured invoke, in microseconds; 0 when not measured. On a 2-core machine shared with the
	// client and the runtimes, it is what bounds throughput.
	ServerCPUUs float64 `json:"server_cpu_us_per_invoke,omitempty"`
	// Ratio is this row's figure over the same figure of its reference row (RatioTo), e.g. the
	// p50 over floor's p50 at one client, or the rate over floor's at 16 clients. 0 when there is
	// no reference in this run.
	Ratio   float64 `json:"ratio,omitempty"`
	RatioTo string  `json:"ratio_to,omitempty"`
	// RoundRatios is the same ratio within each round: this target's figure of round i over
	// the reference's of round i, measured minutes apart at most. Their spread says how much of
	// the pooled Ratio the machine's drift could account for.
	RoundRatios []float64 `json:"round_ratios,omitempty"`
	Note        string    `json:"note,omitempty"`
}

// Machine is where a run happened.
type Machine struct {
	CPUs   int    `json:"cpus"`
	CPU    string `json:"cpu"`
	Kernel string `json:"kernel"`
	Go     string `json:"go"`
}

// Report is one run's results.
type Report struct {
	// Date is when measuring started, in the format of `date -u`.
	Date    string  `json:"date"`
	Mode    string  `json:"mode"`
	Machine Machine `json:"machine"`
	Config  Config  `json:"config"`
	Rows    []Row   `json:"rows"`
}

// ThisMachine describes the machine the bench is running on.
func ThisMachine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), Go: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

func newReport(mode string, cfg Config) *Report {
	return &Report{Date: time.Now().UTC().Format(time.UnixDate), Mode: mode, Machine: ThisMachine(), Config: cfg}
}

// rowFromSummary fills a row's latency columns.
func rowFromSummary(r Row, s Summary) Row {
	r.N = s.N
	r.P50Ms, r.P99Ms, r.MeanMs = millis(s.P50), millis(s.P99), millis(s.Mean)
	return r
}

func millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// WriteTable prints the report as an aligned table.
func (r *Report) WriteTable(w io.Writer) error {
	fmt.Fprintf(w, "%s — %d CPUs, %s, kernel %s, %s\n\n", r.Date, r.Machine.CPUs, r.Machine.CPU, r.Machine.Kernel, r.Machine.Go)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "target\tphase\tclients\truntimes\tn\tp50 ms\tp99 ms\tmean ms\trps\terrors\tsrv cpu µs\tratio\t")
	for _, row := range r.Rows {
		runtimes, ratio, rps, cpu := "-", "-", "-", "-"
		if row.Runtimes > 0 {
			runtimes = fmt.Sprint(row.Runtimes)
		}
		if row.RPS > 0 {
			rps = fmt.Sprintf("%.0f", row.RPS)
		}
		if row.ServerCPUUs > 0 {
			cpu = fmt.Sprintf("%.0f", row.ServerCPUUs)
		}
		if row.Ratio > 0 {
			ratio = fmt.Sprintf("%.2f× %s", row.Ratio, row.RatioTo)
			if len(row.RoundRatios) > 1 {
				ratio += fmt.Sprintf(", rounds %.2f–%.2f", slices.Min(row.RoundRatios), slices.Max(row.RoundRatios))
			}
		}
		if row.N == 0 && row.Errors == 0 {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t-\t-\t-\t-\t-\t-\t-\t-\t\n", row.Target, row.Phase, row.Clients, runtimes)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\t%.3f\t%.3f\t%.3f\t%s\t%d\t%s\t%s\t\n",
			row.Target, row.Phase, row.Clients, runtimes, row.N, row.P50Ms, row.P99Ms, row.MeanMs, rps, row.Errors, cpu, ratio)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, row := range r.Rows {
		if row.Note != "" {
			fmt.Fprintf(w, "  %s %s: %s\n", row.Target, row.Phase, row.Note)
		}
	}
	return nil
}

// WriteJSON writes the report, indented, to path.
func (r *Report) WriteJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
