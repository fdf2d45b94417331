package server

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/ember-serverless/ember/internal/codestore"
	"github.com/ember-serverless/ember/internal/control"
)

// Defaults of the code store's garbage collection.
const (
	// DefaultCodeGCInterval is how often the code store is collected besides after deletes.
	DefaultCodeGCInterval = time.Hour
	// DefaultCodeGCGrace is how recently stored or used code is kept though nothing references
	// it yet: longer than any create or update takes between storing its code and writing
	// its record.
	DefaultCodeGCGrace = 10 * time.Minute
)

// codeCollector collects the code store every interval and soon after each function delete.
type codeCollector struct {
	registry *control.Registry
	store    *codestore.Store
	interval time.Duration
	grace    time.Duration
	logger   *slog.Logger

	kick   chan struct{}
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// startCodeCollector starts collecting; stop it with stop.
func startCodeCollector(reg *control.Registry, store *codestore.Store, interval, grace time.Duration, logger *slog.Logger) *codeCollector {
	c := &codeCollector{registry: reg, store: store, interval: interval, grace: grace, logger: logger,
		kick: make(chan struct{}, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	reg.OnDelete(func(string) { c.soon() })
	c.wg.Add(1)
	go c.run(ctx)
	return c
}

// soon asks for a collection without waiting for it; many asks while one runs make one more.
func (c *codeCollector) soon() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

func (c *codeCollector) run(ctx context.Context) {
	defer c.wg.Done()
	t := time.NewTicker(c.interval)
	defer t.Stop()
	c.collect(ctx) // what a previous run left: deletes and aborted creates before a crash
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-c.kick:
		}
		c.collect(ctx)
	}
}

func (c *codeCollector) collect(ctx context.Context) {
	if _, err := c.registry.CollectCode(ctx, c.store, c.grace); err != nil && ctx.Err() == nil {
		c.logger.Warn("collecting the code store", "err", err)
	}
}

// stop ends collecting and waits for a collection under way.
func (c *codeCollector) stop() {
	c.cancel()
	c.wg.Wait()
}
