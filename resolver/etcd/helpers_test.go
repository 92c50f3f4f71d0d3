package etcd

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/naming/endpoints"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/resolver"

	"github.com/grpclb/grpclb/internal/etcdtest"
	"github.com/grpclb/grpclb/internal/resolvertest"
	"github.com/grpclb/grpclb/internal/testbed"
	"github.com/grpclb/grpclb/internal/testbed/echopb"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const roundRobin = `{"loadBalancingConfig":[{"round_robin":{}}]}`

// world is a real etcd and a fleet of backends, registered (or not) under
// one prefix.
type world struct {
	etcd   *etcdtest.Server
	fleet  *testbed.Fleet
	prefix string
	em     endpoints.Manager
	logs   *logRecorder
}

func newWorld(t *testing.T, n int) *world {
	t.Helper()
	e := etcdtest.Start(t)
	f, err := testbed.StartFleet(n, testbed.FleetConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	w := &world{etcd: e, fleet: f, prefix: "service/echo", logs: newLogRecorder(t)}
	w.em, err = endpoints.NewManager(e.Client(), w.prefix)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// add registers addrs the way etcd's endpoints.Manager does (no lease),
// in one transaction.
func (w *world) add(t *testing.T, addrs ...string) {
	t.Helper()
	var ups []*endpoints.UpdateWithOpts
	for _, a := range addrs {
		ups = append(ups, endpoints.NewAddUpdateOpts(w.prefix+"/"+a, endpoints.Endpoint{Addr: a}))
	}
	if err := w.em.Update(context.Background(), ups); err != nil {
		t.Fatal(err)
	}
}

// del deletes the keys of addrs in one transaction.
func (w *world) del(t *testing.T, addrs ...string) {
	t.Helper()
	var ups []*endpoints.UpdateWithOpts
	for _, a := range addrs {
		ups = append(ups, endpoints.NewDeleteUpdateOpts(w.prefix+"/"+a))
	}
	if err := w.em.Update(context.Background(), ups); err != nil {
		t.Fatal(err)
	}
}

// put writes a raw value under a key.
func (w *world) put(t *testing.T, key, value string) {
	t.Helper()
	if _, err := w.etcd.Client().Put(context.Background(), key, value); err != nil {
		t.Fatal(err)
	}
}

// target is a target for the world's prefix with query options.
func (w *world) target(query string) string {
	t := fmt.Sprintf("etcd://%s/%s", w.etcd.Endpoint(), w.prefix)
	if query != "" {
		t += "?" + query
	}
	return t
}

// builder is a builder whose logs go to the world's recorder.
func (w *world) builder() resolver.Builder {
	return NewBuilder(Options{Logger: w.logs.logger()})
}

func newClient(t *testing.T, target string, opts ...grpc.DialOption) echopb.EchoClient {
	t.Helper()
	opts = append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithDefaultServiceConfig(roundRobin))
	cc, err := grpc.NewClient(target, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return echopb.NewEchoClient(cc)
}

func addrs(bs ...*testbed.Backend) []string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = b.Addr
	}
	return out
}

// waitFor polls cond every 5ms until it holds or within passes.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("within %v: %s", within, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// stateAddrs lists the addresses of a state's endpoints.
func stateAddrs(s resolver.State) []string {
	var out []string
	for _, ep := range s.Endpoints {
		out = append(out, ep.Addresses[0].Addr)
	}
	return out
}

func hasAddrs(want ...string) func(resolver.State) bool {
	slices.Sort(want)
	return func(s resolver.State) bool {
		got := stateAddrs(s)
		var fromAddresses []string
		for _, a := range s.Addresses {
			fromAddresses = append(fromAddresses, a.Addr)
		}
		return slices.Equal(got, want) && slices.Equal(fromAddresses, want)
	}
}

// logRecorder keeps every log record, to check what the resolver said, and
// prints them when the test fails.
type logRecorder struct {
	mu      sync.Mutex
	records []string
}

func newLogRecorder(t *testing.T) *logRecorder {
	r := &logRecorder{}
	t.Cleanup(func() {
		if t.Failed() {
			for _, line := range r.lines() {
				t.Log(line)
			}
		}
	})
	return r
}

func (r *logRecorder) logger() *slog.Logger { return slog.New(&recordHandler{r: r}) }

func (r *logRecorder) lines() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.records...)
}

// count returns how many lines contain every one of parts.
func (r *logRecorder) count(parts ...string) int {
	n := 0
	for _, l := range r.lines() {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(l, p)
		}
		if all {
			n++
		}
	}
	return n
}

type recordHandler struct {
	r     *logRecorder
	attrs []slog.Attr
}

func (h *recordHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *recordHandler) Handle(_ context.Context, rec slog.Record) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", rec.Level, rec.Message)
	for _, a := range h.attrs {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
	}
	rec.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	h.r.mu.Lock()
	h.r.records = append(h.r.records, b.String())
	h.r.mu.Unlock()
	return nil
}

func (h *recordHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &recordHandler{r: h.r, attrs: append(slices.Clip(h.attrs), as...)}
}

func (h *recordHandler) WithGroup(string) slog.Handler { return h }

// metadataOf decodes an endpoint's metadata into a map.
func metadataOf(t *testing.T, ep resolver.Endpoint) map[string]any {
	t.Helper()
	inst, ok := InstanceFromEndpoint(ep)
	if !ok {
		t.Fatalf("endpoint %v has no Instance", ep.Addresses)
	}
	if inst.Metadata == nil {
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal(inst.Metadata, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// newQuietClient is an etcd client of the world's server.
func (w *world) newQuietClient(t *testing.T) *clientv3.Client { return w.etcd.NewClient(t) }

func mustParse(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func build(t *testing.T, b resolver.Builder, target string, cc resolver.ClientConn) resolver.Resolver {
	t.Helper()
	return resolvertest.Build(t, b, target, cc)
}
