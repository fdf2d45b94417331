package state_test

import (
	"context"
	"net"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/ember-serverless/ember/internal/state"
)

func TestClientListenLetsAnOutsideClientReadTheEmbeddedServer(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	st, err := state.Open(context.Background(), state.Config{DataDir: t.TempDir(), ClientListen: addr}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	sub, err := st.Conn().SubscribeSync("hello")
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect("nats://" + addr)
	if err != nil {
		t.Fatalf("an outside client could not connect to %s: %v", addr, err)
	}
	defer nc.Close()
	if err := nc.Publish("hello", []byte("from outside")); err != nil {
		t.Fatal(err)
	}
	nc.Flush()
	if m, err := sub.NextMsg(10e9); err != nil || string(m.Data) != "from outside" {
		t.Fatalf("got %v, %v", m, err)
	}
}

func TestAClientListenAddressWithoutAPortIsRefused(t *testing.T) {
	if _, err := state.Open(context.Background(), state.Config{DataDir: t.TempDir(), ClientListen: "nonsense"}, nil); err == nil {
		t.Error("a client listen address without a port was accepted")
	}
}
