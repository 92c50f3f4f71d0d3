package consul

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grpclb/grpclb/internal/resolvertest"

	"github.com/hashicorp/consul/api"
	"google.golang.org/grpc/resolver"
)

// fakeAgent answers /v1/health/service/echo with an index and entries the
// test sets, blocking like Consul while the caller's index is current. It
// drives the index rules that a real agent shows only by accident.
type fakeAgent struct {
	mu        sync.Mutex
	index     uint64
	entries   []*api.ServiceEntry
	changed   chan struct{}
	queries   []uint64 // the index of every query, in order
	noBlock   bool     // answer at once even when the index is current
	blockWait time.Duration
}

func newFakeAgent(t *testing.T, index uint64, entries ...*api.ServiceEntry) (*fakeAgent, string) {
	f := &fakeAgent{index: index, entries: entries, changed: make(chan struct{}), blockWait: 5 * time.Second}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, strings.TrimPrefix(srv.URL, "http://")
}

func (f *fakeAgent) set(index uint64, entries ...*api.ServiceEntry) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.index, f.entries = index, entries
	close(f.changed)
	f.changed = make(chan struct{})
}

func (f *fakeAgent) seen() []uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]uint64(nil), f.queries...)
}

func (f *fakeAgent) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v1/health/service/echo" {
		http.NotFound(w, r)
		return
	}
	idx, _ := strconv.ParseUint(r.URL.Query().Get("index"), 10, 64)
	f.mu.Lock()
	f.queries = append(f.queries, idx)
	cur, ch, noBlock, wait := f.index, f.changed, f.noBlock, f.blockWait
	f.mu.Unlock()
	if idx != 0 && idx == cur && !noBlock {
		select {
		case <-ch:
		case <-time.After(wait):
		case <-r.Context().Done():
			return
		}
	}
	f.mu.Lock()
	cur, entries := f.index, f.entries
	f.mu.Unlock()
	w.Header().Set("X-Consul-Index", strconv.FormatUint(cur, 10))
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(entries)
}

func fakeEntry(id, addr string, port int) *api.ServiceEntry {
	return &api.ServiceEntry{
		Node:    &api.Node{Node: "n1", Address: "127.0.0.1", Datacenter: "dc1"},
		Service: &api.AgentService{ID: id, Service: "echo", Address: addr, Port: port},
	}
}

func fakeBuilder(logs *resolvertest.LogRecorder) resolver.Builder {
	return NewBuilder(Options{Config: &api.Config{Scheme: "http"}, Logger: logs.Logger(), MaxBackoff: 200 * time.Millisecond})
}

// Consul's rule: an index that goes backwards (an agent restarted empty, a
// snapshot restored) resets the next query to index 0; an index of 0 is
// never waited on.
func TestIndexGoingBackwardsResets(t *testing.T) {
	logs := resolvertest.NewLogRecorder(t)
	f, addr := newFakeAgent(t, 100, fakeEntry("a", "10.0.0.1", 1))
	cc := &resolvertest.RecordingCC{}
	r := resolvertest.Build(t, fakeBuilder(logs), "consul://"+addr+"/echo", cc)
	defer r.Close()
	cc.WaitForState(t, resolvertest.HasAddrs("10.0.0.1:1"))
	resolvertest.Eventually(t, 5*time.Second, "no blocking query on 100", func() bool {
		q := f.seen()
		return len(q) >= 2 && q[len(q)-1] == 100
	})

	f.set(7, fakeEntry("a", "10.0.0.1", 1), fakeEntry("b", "10.0.0.2", 1))
	cc.WaitForState(t, resolvertest.HasAddrs("10.0.0.1:1", "10.0.0.2:1"))
	resolvertest.Eventually(t, 5*time.Second, "no query from 0 after the index went back, then blocking on 7", func() bool {
		q := f.seen()
		for i := 1; i+1 < len(q); i++ {
			if q[i-1] == 100 && q[i] == 0 && q[i+1] == 7 {
				return true
			}
		}
		return false
	})
	if logs.Count("index went backwards", "from=100", "to=7") != 1 {
		t.Error("the reset was not logged")
	}

	f.set(0, fakeEntry("c", "10.0.0.3", 1))
	cc.WaitForState(t, resolvertest.HasAddrs("10.0.0.3:1"))
	resolvertest.Eventually(t, 5*time.Second, "index 0 not replaced by 1", func() bool {
		q := f.seen()
		return q[len(q)-1] == 1
	})
}

// An agent that answers at once with an unchanged index does not make the
// resolver spin, and the set is not published again.
func TestUnchangedIndexDoesNotSpin(t *testing.T) {
	logs := resolvertest.NewLogRecorder(t)
	f, addr := newFakeAgent(t, 5, fakeEntry("a", "10.0.0.1", 1))
	f.mu.Lock()
	f.noBlock = true
	f.mu.Unlock()
	cc := &resolvertest.RecordingCC{}
	r := resolvertest.Build(t, fakeBuilder(logs), "consul://"+addr+"/echo", cc)
	defer r.Close()
	cc.WaitForState(t, resolvertest.HasAddrs("10.0.0.1:1"))
	start := len(f.seen())
	<-time.After(time.Second) // the observation window
	if n := len(f.seen()) - start; n > 15 {
		t.Errorf("%d queries in 1s against an agent that answers at once", n)
	}
	if states, _ := cc.Snapshot(); len(states) != 1 {
		t.Errorf("published %d states for one unchanged set", len(states))
	}
}

// Blocking queries that time out (wait) return the same index: nothing is
// published, and a change after several timeouts still arrives.
func TestWaitTimeouts(t *testing.T) {
	logs := resolvertest.NewLogRecorder(t)
	f, addr := newFakeAgent(t, 5, fakeEntry("a", "10.0.0.1", 1))
	f.mu.Lock()
	f.blockWait = 50 * time.Millisecond
	f.mu.Unlock()
	cc := &resolvertest.RecordingCC{}
	r := resolvertest.Build(t, fakeBuilder(logs), "consul://"+addr+"/echo?wait=50ms", cc)
	defer r.Close()
	cc.WaitForState(t, resolvertest.HasAddrs("10.0.0.1:1"))
	resolvertest.Eventually(t, 5*time.Second, "fewer than 5 timed-out queries", func() bool { return len(f.seen()) >= 6 })
	if states, _ := cc.Snapshot(); len(states) != 1 {
		t.Errorf("published %d states across timeouts", len(states))
	}
	f.set(6, fakeEntry("a", "10.0.0.1", 1), fakeEntry("b", "10.0.0.2", 1))
	cc.WaitForState(t, resolvertest.HasAddrs("10.0.0.1:1", "10.0.0.2:1"))
}

// A bad JSON answer or a 500 is an error: the last good set is kept.
func TestAgentErrorsKeepTheLastGoodSet(t *testing.T) {
	logs := resolvertest.NewLogRecorder(t)
	var broken sync.Mutex
	fail, failed := false, 0
	f, _ := newFakeAgent(t, 5, fakeEntry("a", "10.0.0.1", 1))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		broken.Lock()
		bad := fail
		if bad {
			failed++
		}
		broken.Unlock()
		if bad {
			http.Error(w, "boom", http.StatusInternalServerError)
			return
		}
		f.ServeHTTP(w, r)
	}))
	defer srv.Close()
	cc := &resolvertest.RecordingCC{}
	r := resolvertest.Build(t, fakeBuilder(logs), "consul://"+strings.TrimPrefix(srv.URL, "http://")+"/echo", cc)
	defer r.Close()
	cc.WaitForState(t, resolvertest.HasAddrs("10.0.0.1:1"))
	broken.Lock()
	fail = true
	broken.Unlock()
	f.set(6, fakeEntry("a", "10.0.0.1", 1)) // wakes the blocked query; the next ones fail
	resolvertest.Eventually(t, 5*time.Second, "fewer than 3 failed queries", func() bool {
		broken.Lock()
		defer broken.Unlock()
		return failed >= 3
	})
	// The same failure again and again is one problem: logged once.
	if n := logs.Count("query failed; keeping the last good set", "boom"); n != 1 {
		t.Errorf("%d log lines for one repeated failure, want 1: %q", n, logs.Lines())
	}
	states, errs := cc.Snapshot()
	if len(states) != 1 || len(errs) != 0 {
		t.Errorf("after errors: %d states, errors %v; want the first state kept and no error", len(states), errs)
	}
	broken.Lock()
	fail = false
	broken.Unlock()
	f.set(7, fakeEntry("b", "10.0.0.2", 1))
	cc.WaitForState(t, resolvertest.HasAddrs("10.0.0.2:1"))
	if n := logs.Count("the agent answers again"); n != 1 {
		t.Errorf("the recovery was logged %d times, want once: %q", n, logs.Lines())
	}
}
