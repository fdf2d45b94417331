// Package rabbitmqtest starts a private RabbitMQ broker (Debian's rabbitmq-server) for a test:
// its node name, AMQP, distribution and epmd ports are its own, its files are in t.TempDir(),
// and it is stopped, with the epmd it started, when the test ends.
package rabbitmqtest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/ember-serverless/ember/internal/testenv"
)

// Broker is a running broker; its user guest (password guest) may connect from loopback.
type Broker struct {
	Host string
	Port int
}

// Addr is the broker's AMQP HOST:PORT.
func (b *Broker) Addr() string { return net.JoinHostPort(b.Host, strconv.Itoa(b.Port)) }

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Start starts a broker and waits until it accepts AMQP connections.
func Start(t testing.TB) *Broker {
	t.Helper()
	testenv.NeedCommand(t, "rabbitmq-server", "rabbitmq-server")
	bin := "/usr/lib/rabbitmq/bin/rabbitmq-server" // the Debian wrapper in /usr/sbin would switch to the rabbitmq user
	if _, err := os.Stat(bin); err != nil {
		testenv.Need(t, "needs %s (Debian package rabbitmq-server): %v", bin, err)
	}
	dir := t.TempDir()
	port, dist, epmd := freePort(t), freePort(t), freePort(t)
	node := fmt.Sprintf("ember-test-%d@localhost", port)
	cmd := exec.Command(bin)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"HOME="+dir, // the Erlang cookie
		"RABBITMQ_MNESIA_BASE="+filepath.Join(dir, "mnesia"),
		"RABBITMQ_LOG_BASE="+filepath.Join(dir, "log"),
		"RABBITMQ_NODENAME="+node,
		"RABBITMQ_NODE_IP_ADDRESS=127.0.0.1",
		"RABBITMQ_NODE_PORT="+strconv.Itoa(port),
		"RABBITMQ_DIST_PORT="+strconv.Itoa(dist),
		"ERL_EPMD_PORT="+strconv.Itoa(epmd), // an epmd of its own, not the host's shared one
		"RABBITMQ_ENABLED_PLUGINS_FILE="+filepath.Join(dir, "enabled_plugins"),
		"RABBITMQ_PID_FILE="+filepath.Join(dir, "pid"),
		"RABBITMQ_CONFIG_FILE="+filepath.Join(dir, "rabbitmq"),
		"RABBITMQ_ADVANCED_CONFIG_FILE="+filepath.Join(dir, "advanced.config"),
		"RABBITMQ_CONF_ENV_FILE="+filepath.Join(dir, "rabbitmq-env.conf"),
	)
	out := &testenv.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting rabbitmq-server: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		// The epmd the node started on its own port outlives it: stop it.
		_ = exec.Command("epmd", "-port", strconv.Itoa(epmd), "-kill").Run()
	})
	b := &Broker{Host: "127.0.0.1", Port: port}
	testenv.CheckFor(t, 120*time.Second, 200*time.Millisecond, func() error {
		select {
		case <-done:
			t.Fatalf("rabbitmq-server exited:\n%s", out.String())
		default:
		}
		c, err := net.DialTimeout("tcp", b.Addr(), time.Second)
		if err != nil {
			return fmt.Errorf("rabbitmq-server is not listening on %s yet: %w", b.Addr(), err)
		}
		c.Close()
		return nil
	})
	return b
}
