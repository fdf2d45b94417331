package placement

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/ember-serverless/ember/internal/assign"
	"github.com/ember-serverless/ember/internal/invoke"
	"github.com/ember-serverless/ember/internal/lambdaerr"
	"github.com/ember-serverless/ember/internal/worker"
)

// ReasonCapacity is the Reason of the TooManyRequestsException an invoke gets when no worker
// has memory for a new sandbox: Ember's own, in Lambda's style (docs/concurrency.md).
const ReasonCapacity = "SandboxMemoryCapacityExceeded"

// Worker is a worker placement may put sandboxes on: it makes them and says how much memory
// its sandboxes may use together (*worker.Worker).
type Worker interface {
	assign.Host
	MemoryMB() int64
}

var _ Worker = (*worker.Worker)(nil)

// Config is what a Pack needs.
type Config struct {
	Workers []Worker
	// CapacityMB is each worker's memory: the sum of its sandboxes' MemorySize stays within it.
	CapacityMB int64
	// ReserveMB is the host memory kept free: a sandbox is refused when the host's available
	// memory less its MemorySize would fall below it.
	ReserveMB int64
	// Available reads the host's available memory in MB; MemAvailable of /proc/meminfo when
	// nil.
	Available func() (int64, error)
	Logger    *slog.Logger
}

// Validate reports what is missing.
func (c *Config) Validate() error {
	if len(c.Workers) == 0 {
		return errors.New("placement: at least one worker is required")
	}
	if c.CapacityMB <= 0 {
		return fmt.Errorf("placement: worker capacity %d MB must be positive", c.CapacityMB)
	}
	if c.ReserveMB < 0 {
		return fmt.Errorf("placement: memory reserve %d MB must not be negative", c.ReserveMB)
	}
	return nil
}

// Pack places sandboxes on several workers by memory.
type Pack struct {
	cfg    Config
	logger *slog.Logger

	mu      sync.Mutex
	pending []int64                 // MB placed on each worker whose sandbox is being made
	code    map[string]map[int]bool // code directory → workers it was placed on
}

var _ assign.Placement = (*Pack)(nil)

// NewPack returns a placement over cfg.Workers.
func NewPack(cfg Config) (*Pack, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Available == nil {
		cfg.Available = MemAvailableMB
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Pack{cfg: cfg, logger: cfg.Logger, pending: make([]int64, len(cfg.Workers)), code: map[string]map[int]bool{}}, nil
}

// Place chooses the worker for a new sandbox of spec: of those with room for its MemorySize,
// one that already has its code, and of those the fullest (best fit), so that sandboxes pack
// onto few workers and large ones still find room.
func (p *Pack) Place(_ context.Context, spec invoke.SandboxSpec) (assign.Host, error) {
	need := int64(spec.MemoryMB)
	p.mu.Lock()
	defer p.mu.Unlock()
	var committed int64
	for i, w := range p.cfg.Workers {
		committed += w.MemoryMB() + p.pending[i]
	}
	if avail, err := p.cfg.Available(); err == nil && avail-need < p.cfg.ReserveMB {
		return nil, p.refuse(spec, fmt.Sprintf("the host has %d MB available and keeps %d MB in reserve", avail, p.cfg.ReserveMB))
	}
	best, bestHas, bestUsed := -1, false, int64(-1)
	for i, w := range p.cfg.Workers {
		used := w.MemoryMB() + p.pending[i]
		if used+need > p.cfg.CapacityMB {
			continue
		}
		has := p.code[spec.CodeDir][i]
		if best < 0 || (has && !bestHas) || (has == bestHas && used > bestUsed) {
			best, bestHas, bestUsed = i, has, used
		}
	}
	if best < 0 {
		return nil, p.refuse(spec, fmt.Sprintf("every worker's %d MB is taken (%d MB by sandboxes)", p.cfg.CapacityMB, committed))
	}
	p.pending[best] += need
	if p.code[spec.CodeDir] == nil {
		p.code[spec.CodeDir] = map[int]bool{}
	}
	p.code[spec.CodeDir][best] = true
	return &placed{p: p, i: best, mb: need}, nil
}

func (p *Pack) refuse(spec invoke.SandboxSpec, why string) error {
	p.logger.Warn("no room for a sandbox", "function", spec.FunctionName, "memory_mb", spec.MemoryMB, "why", why)
	return fmt.Errorf("%w: %w", &lambdaerr.Error{Type: lambdaerr.TooManyRequests, Reason: ReasonCapacity, RetryAfterSeconds: 1,
		Message: "Rate Exceeded. There is no memory for another sandbox of " + strconv.Itoa(spec.MemoryMB) + " MB on this server."},
		assign.ErrNoCapacity)
}

// Workers is how many workers there are.
func (p *Pack) Workers() int { return len(p.cfg.Workers) }

// placed is the worker Place chose, holding the sandbox's memory as pending until it exists
// (then the worker counts it) or failed to start.
type placed struct {
	p  *Pack
	i  int
	mb int64
}

func (h *placed) NewSandbox(ctx context.Context, spec invoke.SandboxSpec) (*worker.Sandbox, error) {
	sb, err := h.p.cfg.Workers[h.i].NewSandbox(ctx, spec)
	h.p.mu.Lock()
	h.p.pending[h.i] -= h.mb
	h.p.mu.Unlock()
	return sb, err
}

// MemAvailableMB is the host's MemAvailable from /proc/meminfo, in MB.
func MemAvailableMB() (int64, error) { return meminfo("MemAvailable:") }

// MemTotalMB is the host's MemTotal from /proc/meminfo, in MB.
func MemTotalMB() (int64, error) { return meminfo("MemTotal:") }

func meminfo(field string) (int64, error) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("/proc/meminfo %s: %w", field, err)
			}
			return kb >> 10, nil
		}
	}
	return 0, fmt.Errorf("/proc/meminfo has no %s", field)
}

// DefaultReserveMB is the host memory kept free when none is configured: a tenth of the
// host's memory, at least 256 MB.
func DefaultReserveMB() int64 {
	total, err := MemTotalMB()
	if err != nil {
		return 256
	}
	return max(256, total/10)
}
