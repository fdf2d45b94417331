package storesuite

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ember-serverless/ember/internal/codestore"
	"github.com/ember-serverless/ember/internal/control"
	"github.com/ember-serverless/ember/internal/control/controltest"
	"github.com/ember-serverless/ember/internal/lambdaerr"
	"github.com/ember-serverless/ember/internal/logs"
	"github.com/ember-serverless/ember/internal/state"
)

// Target is a store the suite runs against.
type Target struct {
	// State is open on the store.
	State *state.State
	// Replicas is the replica count every bucket and stream must have been created with.
	Replicas int
	// StopNode shuts down the named server of a cluster, as a crash would; nil for a single
	// server.
	StopNode func(name string)
}

// stores are the state-backed stores, opened on one target.
type stores struct {
	st       *state.State
	registry *control.Registry
	blobs    codestore.Blobs
	logs     *logs.Store
}

func openStores(t *testing.T, st *state.State) *stores {
	t.Helper()
	ctx := context.Background()
	s := &stores{st: st}
	var err error
	if s.registry, err = control.Open(ctx, st, control.Config{}, controltest.NewCodeStore()); err != nil {
		t.Fatalf("open the registry: %v", err)
	}
	t.Cleanup(func() { s.registry.Close() })
	if s.blobs, err = codestore.NewJetStreamBlobs(ctx, st.JetStream(), "code-chunks", st.Replicas()); err != nil {
		t.Fatalf("open the code chunks: %v", err)
	}
	if s.logs, err = logs.NewStore(ctx, st.JetStream(), logs.StoreConfig{Replicas: st.Replicas()}, nil); err != nil {
		t.Fatalf("open the log store: %v", err)
	}
	t.Cleanup(func() { s.logs.Close(context.Background()) })
	return s
}

// Run runs the suite against the target open returns. The subtests share the target and run in
// order; losing a node, when the target can, comes last.
func Run(t *testing.T, open func(t *testing.T) Target) {
	tg := open(t)
	s := openStores(t, tg.State)

	t.Run("the registry stores a function that a second registry on the same store reads back", func(t *testing.T) {
		createFunction(t, s.registry, "suite-fn")
		other := openStores(t, tg.State).registry
		f, ok := other.Lookup("suite-fn")
		if !ok || f.Config.Role != role || f.Code.Size == 0 {
			t.Fatalf("a second registry reads %+v (found %v)", f, ok)
		}
	})
	t.Run("code chunks are stored, reported present and read back", func(t *testing.T) {
		checkBlobs(t, s.blobs, "suite-chunk")
	})
	t.Run("log events are stored and read back in order", func(t *testing.T) {
		checkLogs(t, s.logs, "suite")
	})
	t.Run("a key watch sees the current values, then each change and deletion", func(t *testing.T) {
		checkWatch(t, tg.State)
	})
	t.Run("every bucket and stream has the configured replicas", func(t *testing.T) {
		checkReplicas(t, tg.State.JetStream(), tg.Replicas)
	})
	t.Run("reads and writes go on after the node leading the functions bucket shuts down", func(t *testing.T) {
		if tg.StopNode == nil {
			t.Skip("a single server has no node to lose; the cluster target runs this")
		}
		checkNodeLoss(t, tg, s)
	})
}

const role = "arn:aws:iam::000000000000:role/suite"

func createInput(t *testing.T, name string) *control.CreateFunctionInput {
	return &control.CreateFunctionInput{
		FunctionName: name, Runtime: "provided.al2023", Role: role, Handler: "bootstrap",
		Code: &control.FunctionCode{ZipFile: controltest.Zip(t, map[string]string{"bootstrap": "#!/bin/sh\n"})},
	}
}

func createFunction(t *testing.T, r *control.Registry, name string) {
	t.Helper()
	if _, err := r.Create(context.Background(), createInput(t, name)); err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
}

func checkBlobs(t *testing.T, b codestore.Blobs, id string) {
	t.Helper()
	ctx := context.Background()
	data := []byte("chunk " + id)
	if err := b.Put(ctx, id, data); err != nil {
		t.Fatal(err)
	}
	if has, err := b.Has(ctx, id); err != nil || !has {
		t.Fatalf("Has(%s) = %v, %v after Put", id, has, err)
	}
	got, err := b.Get(ctx, id)
	if err != nil || string(got) != string(data) {
		t.Fatalf("Get(%s) = %q, %v; want %q", id, got, err, data)
	}
	if _, err := b.Get(ctx, id+"-missing"); !errors.Is(err, codestore.ErrBlobNotFound) {
		t.Fatalf("Get of a missing chunk: %v, want ErrBlobNotFound", err)
	}
}

func checkLogs(t *testing.T, ls *logs.Store, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	group, stream := "/aws/lambda/"+name, "2026/12/03/[$LATEST]"+name
	now := time.Now().Truncate(time.Millisecond)
	want := []string{"first " + name, "second " + name}
	for i, m := range want {
		ls.Write(logs.Event{Group: group, Stream: stream, Time: now.Add(time.Duration(i) * time.Millisecond), Message: m})
	}
	if err := ls.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	out, err := ls.GetLogEvents(ctx, logs.GetLogEventsInput{LogGroupName: group, LogStreamName: stream, StartFromHead: true})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range out.Events {
		got = append(got, e.Message)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("read back %q, want %q", got, want)
	}
}

func checkWatch(t *testing.T, st *state.State) {
	t.Helper()
	ctx := context.Background()
	kv, err := st.JetStream().CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "suite_watch", Replicas: st.Replicas()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.PutString(ctx, "a", "1"); err != nil {
		t.Fatal(err)
	}
	seen := make(chan string, 16)
	w, err := state.WatchKeys(ctx, kv, func(e jetstream.KeyValueEntry) {
		seen <- fmt.Sprintf("%s %s=%s", e.Operation(), e.Key(), e.Value())
	})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	// WatchKeys returns once the current values were applied.
	select {
	case got := <-seen:
		if got != "KeyValuePutOp a=1" {
			t.Fatalf("first entry %q, want the current value of a", got)
		}
	default:
		t.Fatal("WatchKeys returned before the current values were applied")
	}
	if _, err := kv.PutString(ctx, "b", "2"); err != nil {
		t.Fatal(err)
	}
	if err := kv.Delete(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"KeyValuePutOp b=2", "KeyValueDeleteOp a="} {
		select {
		case got := <-seen:
			if got != want {
				t.Fatalf("entry %q, want %q", got, want)
			}
		case <-time.After(time.Minute):
			t.Fatalf("no entry %q within a minute", want)
		}
	}
}

// checkReplicas checks that every stream (each bucket is one) is configured with want replicas
// and, on a cluster, really has them: a leader and want-1 other peers.
func checkReplicas(t *testing.T, js jetstream.JetStream, want int) {
	t.Helper()
	ctx := context.Background()
	names := map[string]bool{}
	streams := js.ListStreams(ctx)
	for info := range streams.Info() {
		names[info.Config.Name] = true
		if info.Config.Replicas != want {
			t.Errorf("stream %s has %d replicas configured, want %d", info.Config.Name, info.Config.Replicas, want)
		}
		if want > 1 && (info.Cluster == nil || info.Cluster.Leader == "" || len(info.Cluster.Replicas) != want-1) {
			t.Errorf("stream %s is placed as %+v, want a leader and %d other peers", info.Config.Name, info.Cluster, want-1)
		}
	}
	if err := streams.Err(); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"KV_" + control.DefaultBucket, "KV_" + control.DefaultLayerBucket, "OBJ_code-chunks", "LOGS", "KV_LOG_GROUPS"} {
		if !names[s] {
			t.Errorf("stream %s was not created (streams: %v)", s, names)
		}
	}
}

// checkNodeLoss stops the server leading the functions bucket and checks that what was stored
// before reads back and that new writes are taken once the cluster has elected a new leader.
func checkNodeLoss(t *testing.T, tg Target, s *stores) {
	ctx := context.Background()
	js := tg.State.JetStream()
	createFunction(t, s.registry, "before-loss")
	checkBlobs(t, s.blobs, "before-loss")
	info, err := stream(ctx, js, "KV_"+control.DefaultBucket)
	if err != nil {
		t.Fatal(err)
	}
	lost := info.Cluster.Leader
	tg.StopNode(lost)

	// Writes fail while a new leader is elected (and while the client moves to another server
	// if it was connected to the lost one); poll until one is taken.
	var lastErr error
	for deadline := time.Now().Add(2 * time.Minute); ; {
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, lastErr = s.registry.Create(wctx, createInput(t, "after-loss"))
		cancel()
		var le *lambdaerr.Error
		if lastErr == nil || errors.As(lastErr, &le) && le.Type == lambdaerr.ResourceConflict {
			break // stored (a conflict means an earlier attempt was stored though its answer was lost)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no write was taken within two minutes of losing %s: %v", lost, lastErr)
		}
		time.Sleep(100 * time.Millisecond)
	}
	kv, err := js.KeyValue(ctx, control.DefaultBucket)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"before-loss", "after-loss"} {
		if _, err := kv.Get(ctx, name); err != nil {
			t.Errorf("reading %s from the store after losing %s: %v", name, lost, err)
		}
	}
	checkBlobs(t, s.blobs, "after-loss")
	if got, err := s.blobs.Get(ctx, "before-loss"); err != nil || len(got) == 0 {
		t.Errorf("a chunk stored before losing %s reads %q, %v", lost, got, err)
	}
	checkLogs(t, s.logs, "after-loss")
	if info, err = stream(ctx, js, "KV_"+control.DefaultBucket); err != nil {
		t.Fatal(err)
	} else if info.Cluster.Leader == "" || info.Cluster.Leader == lost {
		t.Errorf("the functions bucket is led by %q after losing %s", info.Cluster.Leader, lost)
	}
	again := openStores(t, tg.State).registry
	for _, name := range []string{"before-loss", "after-loss"} {
		if _, ok := again.Lookup(name); !ok {
			t.Errorf("a registry opened after losing %s does not find %s", lost, name)
		}
	}
}

func stream(ctx context.Context, js jetstream.JetStream, name string) (*jetstream.StreamInfo, error) {
	s, err := js.Stream(ctx, name)
	if err != nil {
		return nil, err
	}
	return s.Info(ctx)
}
