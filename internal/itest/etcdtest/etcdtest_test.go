package etcdtest

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/goleak"

	"github.com/grpclb/grpclb/internal/testbed"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func get(t *testing.T, s *Server, key string) (string, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := s.Client().Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) == 0 {
		return "", false
	}
	return string(resp.Kvs[0].Value), true
}

func TestStopRestartKeepsDataWipeDropsIt(t *testing.T) {
	s := Start(t)
	ctx := context.Background()
	if _, err := s.Client().Put(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	s.Stop()
	if s.Running() {
		t.Fatal("running after Stop")
	}
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	_, err := s.Client().Get(short, "k")
	cancel()
	if err == nil {
		t.Fatal("a read succeeded while etcd was stopped")
	}
	s.Restart()
	if v, ok := get(t, s, "k"); !ok || v != "v" {
		t.Fatalf("after restart: %q, %v; want the data kept", v, ok)
	}
	s.Kill()
	s.Wipe()
	s.Restart()
	if v, ok := get(t, s, "k"); ok {
		t.Fatalf("after wipe: %q still there", v)
	}
}

func TestProxyCutAndRestore(t *testing.T) {
	s := Start(t)
	p := StartProxy(t, s.Endpoint())
	c := newClientTo(t, p.Endpoint())
	ctx := context.Background()
	if _, err := c.Put(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	p.Cut()
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	_, err := c.Get(short, "k")
	cancel()
	if err == nil {
		t.Fatal("a read through a cut proxy succeeded")
	}
	if _, ok := get(t, s, "k"); !ok { // direct clients are not affected
		t.Fatal("direct read failed")
	}
	p.Restore()
	ctx5, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := c.Get(ctx5, "k"); err != nil {
		t.Fatalf("after Restore: %v", err)
	}
}

func TestCompact(t *testing.T) {
	s := Start(t)
	ctx := context.Background()
	for range 3 {
		if _, err := s.Client().Put(ctx, "k", "v"); err != nil {
			t.Fatal(err)
		}
	}
	rev, err := s.Compact(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client().Get(ctx, "k", clientv3.WithRev(rev-1)); err == nil {
		t.Fatal("reading a compacted revision succeeded")
	}
}

func newClientTo(t *testing.T, endpoint string) *clientv3.Client {
	t.Helper()
	c, err := clientv3.New(ClientConfig(endpoint))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Launch, for callers that are not tests (the lab): the process keeps its
// data across Down (SIGKILL) and Up, and Close stops it.
func TestLaunchDownUp(t *testing.T) {
	testbed.NeedBinary(t, "etcd")
	s, err := Launch(filepath.Join(t.TempDir(), "etcd"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c, err := clientv3.New(ClientConfig(s.Endpoint()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := c.Put(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	if err := s.Down(); err != nil || s.Running() {
		t.Fatalf("Down: %v, running %v", err, s.Running())
	}
	if err := s.Up(); err != nil {
		t.Fatal(err)
	}
	resp, err := c.Get(ctx, "k")
	if err != nil || len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "v" {
		t.Fatalf("after Down and Up: %v, %v; want k=v kept", resp, err)
	}
	if err := s.Close(); err != nil || s.Running() {
		t.Fatalf("Close: %v, running %v", err, s.Running())
	}
}
