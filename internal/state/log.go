package state

import (
	"fmt"
	"log/slog"

	"github.com/nats-io/nats-server/v2/server"
)

// natsLogger writes the embedded NATS server's log to Ember's logger. A "fatal" line is logged as
// an error and does not exit: the State's health watch decides what a broken store means.
type natsLogger struct{ l *slog.Logger }

var _ server.Logger = natsLogger{}

func (n natsLogger) Noticef(format string, v ...any) { n.l.Info(fmt.Sprintf(format, v...)) }
func (n natsLogger) Warnf(format string, v ...any)   { n.l.Warn(fmt.Sprintf(format, v...)) }
func (n natsLogger) Errorf(format string, v ...any)  { n.l.Error(fmt.Sprintf(format, v...)) }
func (n natsLogger) Fatalf(format string, v ...any) {
	n.l.Error(fmt.Sprintf(format, v...), "fatal", true)
}
func (n natsLogger) Debugf(format string, v ...any) { n.l.Debug(fmt.Sprintf(format, v...)) }
func (n natsLogger) Tracef(format string, v ...any) { n.l.Debug(fmt.Sprintf(format, v...)) }
