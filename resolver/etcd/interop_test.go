package etcd

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc/resolver"

	"github.com/grpclb/grpclb/internal/resolvertest"
)

// TestEtcdRebuiltWithoutItsData: etcd comes back empty, its revision far
// behind what the resolver saw. The client's own watch would wait for that
// revision; the resolver notices the rewind and reads the prefix again.
func TestEtcdRebuiltWithoutItsData(t *testing.T) {
	w := newWorld(t, 3)
	bs := w.fleet.Backends()
	w.add(t, bs[0].Addr, bs[1].Addr)
	cc := &resolvertest.RecordingCC{}
	r := resolvertest.Build(t, w.builder(), w.target("max_backoff=200ms"), cc)
	defer r.Close()
	cc.WaitForState(t, resolvertest.HasAddrs(bs[0].Addr, bs[1].Addr))
	// Writes under the prefix (of a value the resolver skips) move the
	// revision the resolver has seen on.
	// The last write differs, so that its log line says the resolver has
	// seen them all (writes that arrive in one watch response are logged
	// as one problem: the value the key holds after them).
	for i := range 30 {
		w.put(t, w.prefix+"/not-an-instance", fmt.Sprint(i))
	}
	w.put(t, w.prefix+"/not-an-instance", `"last"`)
	resolvertest.Eventually(t, 10*time.Second, "the last write was not seen", func() bool {
		return w.logs.Count("not-an-instance", "cannot unmarshal string") >= 1
	})
	w.etcd.Kill()
	w.etcd.Wipe()
	w.etcd.Restart()
	w.add(t, bs[2].Addr)
	cc.WaitForState(t, resolvertest.HasAddrs(bs[2].Addr))
	if w.logs.Count("revision went back") == 0 {
		t.Error("the rewind was not logged")
	}
	// And the watch follows the new store.
	w.add(t, bs[0].Addr)
	cc.WaitForState(t, resolvertest.HasAddrs(bs[0].Addr, bs[2].Addr))
	if states, _ := cc.Snapshot(); slices.ContainsFunc(states, func(s resolver.State) bool { return len(s.Endpoints) == 0 }) {
		t.Error("an empty set was published")
	}
}
