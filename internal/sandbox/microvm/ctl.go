//go:build linux

package microvm

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sync"

	"github.com/ember-serverless/ember/internal/sandbox/microvm/wire"
)

// errAgentGone is returned for requests to an agent whose VM has ended.
var errAgentGone = errors.New("microvm: the VM's agent is gone")

// ctlClient is the host's end of one VM's control port.
type ctlClient struct {
	conn net.Conn
	wmu  sync.Mutex

	mu      sync.Mutex
	next    int64
	waiting map[int64]chan wire.Message
	gone    bool

	ready  chan struct{}     // closed when the agent says it is ready
	exit   chan wire.Message // the runtime's exit, reported once
	closed chan struct{}     // closed when the port has ended
}

func newCtl(conn net.Conn) *ctlClient {
	c := &ctlClient{
		conn:    conn,
		waiting: map[int64]chan wire.Message{},
		ready:   make(chan struct{}),
		exit:    make(chan wire.Message, 1),
		closed:  make(chan struct{}),
	}
	go c.read()
	return c
}

func (c *ctlClient) read() {
	defer func() {
		c.mu.Lock()
		c.gone = true
		for _, ch := range c.waiting {
			close(ch)
		}
		c.waiting = nil
		c.mu.Unlock()
		close(c.closed)
	}()
	sc := bufio.NewScanner(c.conn)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	readyOnce := sync.OnceFunc(func() { close(c.ready) })
	for sc.Scan() {
		var m wire.Message
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			continue
		}
		switch {
		case m.Event == wire.EventReady:
			readyOnce()
		case m.Event == wire.EventExit:
			select {
			case c.exit <- m:
			default:
			}
		case m.ID != 0:
			c.mu.Lock()
			ch := c.waiting[m.ID]
			delete(c.waiting, m.ID)
			c.mu.Unlock()
			if ch != nil {
				ch <- m
			}
		}
	}
}

// call sends a request and waits for its answer.
func (c *ctlClient) call(ctx context.Context, req wire.Request) (wire.Message, error) {
	ch := make(chan wire.Message, 1)
	c.mu.Lock()
	if c.gone {
		c.mu.Unlock()
		return wire.Message{}, errAgentGone
	}
	c.next++
	req.ID = c.next
	c.waiting[req.ID] = ch
	c.mu.Unlock()
	b, _ := json.Marshal(req)
	c.wmu.Lock()
	_, err := c.conn.Write(append(b, '\n'))
	c.wmu.Unlock()
	if err != nil {
		return wire.Message{}, fmt.Errorf("microvm: %s: %w", req.Op, err)
	}
	select {
	case m, ok := <-ch:
		if !ok {
			return wire.Message{}, fmt.Errorf("microvm: %s: %w", req.Op, errAgentGone)
		}
		if m.Err != "" {
			return m, fmt.Errorf("microvm: %s: %s", req.Op, m.Err)
		}
		return m, nil
	case <-ctx.Done():
		c.mu.Lock()
		delete(c.waiting, req.ID)
		c.mu.Unlock()
		return wire.Message{}, fmt.Errorf("microvm: %s: %w", req.Op, ctx.Err())
	}
}
