//go:build linux

package microvm

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// qmp is a client of QEMU's machine protocol on one connection: commands one at a time,
// events kept for waitEvent.
type qmp struct {
	conn net.Conn
	mu   sync.Mutex // one command at a time
	r    *bufio.Reader
}

type qmpReply struct {
	Return json.RawMessage `json:"return"`
	Error  *struct {
		Class string `json:"class"`
		Desc  string `json:"desc"`
	} `json:"error"`
	Event string `json:"event"`
}

// newQMP reads QEMU's greeting and enters command mode.
func newQMP(conn net.Conn) (*qmp, error) {
	q := &qmp{conn: conn, r: bufio.NewReader(conn)}
	conn.SetReadDeadline(time.Now().Add(60 * time.Second))
	if _, err := q.r.ReadBytes('\n'); err != nil {
		return nil, fmt.Errorf("qmp greeting: %w", err)
	}
	conn.SetReadDeadline(time.Time{})
	if _, err := q.do("qmp_capabilities", nil); err != nil {
		return nil, err
	}
	return q, nil
}

// do runs a command and returns its result. Events that arrive meanwhile are dropped.
func (q *qmp) do(cmd string, args any) (json.RawMessage, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	req := map[string]any{"execute": cmd}
	if args != nil {
		req["arguments"] = args
	}
	b, _ := json.Marshal(req)
	if _, err := q.conn.Write(append(b, '\n')); err != nil {
		return nil, fmt.Errorf("qmp %s: %w", cmd, err)
	}
	for {
		line, err := q.r.ReadBytes('\n')
		if err != nil {
			return nil, fmt.Errorf("qmp %s: %w", cmd, err)
		}
		var rep qmpReply
		if err := json.Unmarshal(line, &rep); err != nil {
			return nil, fmt.Errorf("qmp %s: %w", cmd, err)
		}
		if rep.Event != "" {
			continue
		}
		if rep.Error != nil {
			return nil, fmt.Errorf("qmp %s: %s: %s", cmd, rep.Error.Class, rep.Error.Desc)
		}
		return rep.Return, nil
	}
}

// migrationDone polls query-migrate until the migration has completed or failed.
func (q *qmp) migrationDone(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		b, err := q.do("query-migrate", nil)
		if err != nil {
			return err
		}
		var st struct {
			Status    string `json:"status"`
			ErrorDesc string `json:"error-desc"`
		}
		if err := json.Unmarshal(b, &st); err != nil {
			return err
		}
		switch st.Status {
		case "completed":
			return nil
		case "failed", "cancelled":
			return fmt.Errorf("migration %s: %s", st.Status, st.ErrorDesc)
		}
		if time.Now().After(deadline) {
			return errors.New("migration did not complete in time")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// status is the VM's run state ("running", "paused", "inmigrate", ...).
func (q *qmp) status() (string, error) {
	b, err := q.do("query-status", nil)
	if err != nil {
		return "", err
	}
	var st struct {
		Status string `json:"status"`
	}
	err = json.Unmarshal(b, &st)
	return st.Status, err
}

func (q *qmp) close() error { return q.conn.Close() }
