package statetest

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ember-serverless/ember/internal/state"
)

// Cluster is a NATS cluster of in-process servers with JetStream, each on free loopback ports
// with its files in a temporary directory: what Ember meets when pointed at an external cluster.
type Cluster struct {
	t       testing.TB
	servers []*server.Server
}

// NewCluster starts a cluster of n servers (a single standalone server when n is 1) and returns once its JetStream meta group has a
// leader and knows all n servers. The servers are shut down when the test ends.
func NewCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	c := &Cluster{t: t}
	t.Cleanup(c.shutdown)
	// Every node is given every node's route, so JetStream knows the cluster's size from the
	// start. That needs the route ports before the servers start: they are taken from ports
	// the kernel hands out for a moment, and if one of them was taken meanwhile, the cluster is
	// started again on new ones.
	var err error
	for range 3 {
		if err = c.start(t, n); err == nil {
			if n > 1 {
				c.waitForMeta(n)
				c.waitForStreams(n)
			}
			return c
		}
		c.shutdown()
		c.servers = nil
	}
	t.Fatalf("start a %d-node cluster: %v", n, err)
	return nil
}

func (c *Cluster) start(t testing.TB, n int) error {
	ports, err := freePorts(n)
	if err != nil {
		return err
	}
	routes := make([]*url.URL, n)
	for i, p := range ports {
		routes[i] = &url.URL{Scheme: "nats", Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(p))}
	}
	for i := range n {
		opts := &server.Options{
			ServerName:             fmt.Sprintf("node-%d", i+1),
			Host:                   "127.0.0.1",
			Port:                   -1,
			JetStream:              true,
			StoreDir:               filepath.Join(t.TempDir(), "jetstream"),
			JetStreamMaxMemory:     64 << 20,
			NoSigs:                 true,
			NoLog:                  true,
			DisableJetStreamBanner: true,
		}
		if n > 1 {
			opts.Cluster = server.ClusterOpts{Name: "ember-test", Host: "127.0.0.1", Port: ports[i]}
			opts.Routes = routes
		}
		s, err := server.NewServer(opts)
		if err != nil {
			return fmt.Errorf("node %d: %w", i+1, err)
		}
		s.Start()
		c.servers = append(c.servers, s)
	}
	for i, s := range c.servers {
		if !s.ReadyForConnections(30 * time.Second) {
			return fmt.Errorf("node %d did not become ready (route port %d)", i+1, ports[i])
		}
	}
	return nil
}

// freePorts is n loopback ports that were free a moment ago.
func freePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer ln.Close()
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// waitForMeta polls until every running server sees a meta leader and a meta group of size n.
func (c *Cluster) waitForMeta(n int) {
	c.t.Helper()
	var last string
	for deadline := time.Now().Add(time.Minute); ; {
		ready := true
		for _, s := range c.Running() {
			jsz, err := s.Jsz(nil)
			switch {
			case err != nil:
				ready, last = false, fmt.Sprintf("%s: %v", s.Name(), err)
			case jsz.Meta == nil || jsz.Meta.Leader == "":
				ready, last = false, s.Name()+": no meta leader yet"
			case jsz.Meta.Size < n:
				ready, last = false, fmt.Sprintf("%s: meta group of %d", s.Name(), jsz.Meta.Size)
			}
		}
		if ready {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("the cluster formed no JetStream meta group of %d in a minute (%s)", n, last)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitForStreams polls until the cluster places a stream of n replicas: a meta group that just
// formed may still change leader and drop the first requests.
func (c *Cluster) waitForStreams(n int) {
	c.t.Helper()
	nc, err := nats.Connect(c.URL())
	if err != nil {
		c.t.Fatalf("connect to the cluster: %v", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		c.t.Fatal(err)
	}
	for deadline := time.Now().Add(time.Minute); ; {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: "statetest_ready", Replicas: n, Storage: jetstream.MemoryStorage})
		if err == nil {
			err = js.DeleteStream(ctx, "statetest_ready")
		}
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("the cluster placed no stream of %d replicas in a minute: %v", n, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Running is the servers not shut down.
func (c *Cluster) Running() []*server.Server {
	var out []*server.Server
	for _, s := range c.servers {
		if s.Running() {
			out = append(out, s)
		}
	}
	return out
}

// URL is every server's client URL, separated by commas, as state.Config.URL takes them.
func (c *Cluster) URL() string {
	urls := make([]string, len(c.servers))
	for i, s := range c.servers {
		urls[i] = s.ClientURL()
	}
	return strings.Join(urls, ",")
}

// Stop shuts down the server named name ("node-1" ...), as a crash of that node would.
func (c *Cluster) Stop(name string) {
	c.t.Helper()
	for _, s := range c.servers {
		if s.Name() == name {
			s.Shutdown()
			s.WaitForShutdown()
			return
		}
	}
	c.t.Fatalf("no cluster node named %q", name)
}

// Open opens a State on the cluster with the replica count Ember chooses for it; it is closed
// when the test ends.
func (c *Cluster) Open(t testing.TB) *state.State {
	t.Helper()
	st, err := state.Open(context.Background(), state.Config{URL: c.URL()}, nil)
	if err != nil {
		t.Fatalf("open state on the cluster: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func (c *Cluster) shutdown() {
	for _, s := range c.servers {
		s.Shutdown()
	}
	for _, s := range c.servers {
		s.WaitForShutdown()
	}
}
