package consul

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/serviceconfig"

	"github.com/grpclb/grpclb/internal/consultest"
	"github.com/grpclb/grpclb/internal/testbed"
	"github.com/grpclb/grpclb/internal/testbed/echopb"
	register "github.com/grpclb/grpclb/register/consul"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const roundRobin = `{"loadBalancingConfig":[{"round_robin":{}}]}`

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// world is a real Consul agent and a fleet of backends.
type world struct {
	agent  *consultest.Agent
	api    *api.Client
	fleet  *testbed.Fleet
	logs   *logRecorder
	target string
}

func newWorld(t *testing.T, n int) *world {
	t.Helper()
	a := consultest.Start(t)
	f, err := testbed.StartFleet(n, testbed.FleetConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	return &world{agent: a, api: a.Client(t), fleet: f, logs: newLogRecorder(t), target: "consul://" + a.HTTPAddr() + "/echo"}
}

// register registers a backend as an instance of echo with a fast gRPC
// check, and deregisters it in t.Cleanup.
func (w *world) register(t *testing.T, b *testbed.Backend, tags []string, opts ...register.Option) *register.Registration {
	t.Helper()
	ap := netip.MustParseAddrPort(b.Addr)
	opts = append([]register.Option{
		register.WithGRPCCheck(100 * time.Millisecond),
		register.WithInitialPassing(),
		register.WithResync(200 * time.Millisecond),
		register.WithMaxBackoff(500 * time.Millisecond),
		register.WithLogger(w.logs.logger()),
	}, opts...)
	r, err := register.Register(context.Background(), w.api, register.Service{
		Name: "echo", ID: "echo-" + b.Name, Address: ap.Addr().String(), Port: int(ap.Port()),
		Tags: tags, Meta: map[string]string{"backend": b.Name},
	}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Stop() })
	return r
}

// builder is a builder whose logs go to the world's recorder, with short
// waits and backoff, and which ignores the machine's CONSUL_* variables.
func (w *world) builder() resolver.Builder {
	return NewBuilder(Options{
		Config:     &api.Config{Scheme: "http"},
		Logger:     w.logs.logger(),
		MaxBackoff: 500 * time.Millisecond,
	})
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

// waitForSet polls until a window of calls is answered by exactly the
// backends named in want.
func waitForSet(t *testing.T, c echopb.EchoClient, want []string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	var got map[string]int
	var failed int
	for time.Now().Before(deadline) {
		got, failed = testbed.Tally(c, 10*len(want), 2*time.Second)
		if failed == 0 && slices.Equal(sortedKeys(got), want) {
			return
		}
	}
	t.Fatalf("within %v: calls went to %v (%d failed), want exactly %v", within, got, failed, want)
}

func sortedKeys(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func names(bs ...*testbed.Backend) []string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = b.Name
	}
	slices.Sort(out)
	return out
}

// recordingCC is a resolver.ClientConn that records what a resolver
// publishes.
type recordingCC struct {
	mu     sync.Mutex
	states []resolver.State
	errs   []error
}

func (c *recordingCC) UpdateState(s resolver.State) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.states = append(c.states, s)
	return nil
}

func (c *recordingCC) ReportError(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.errs = append(c.errs, err)
}

func (c *recordingCC) NewAddress([]resolver.Address) {}

func (c *recordingCC) ParseServiceConfig(string) *serviceconfig.ParseResult { return nil }

func (c *recordingCC) snapshot() (states []resolver.State, errs []error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]resolver.State(nil), c.states...), append([]error(nil), c.errs...)
}

func build(t *testing.T, b resolver.Builder, target string, cc resolver.ClientConn) resolver.Resolver {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	r, err := b.Build(resolver.Target{URL: *u}, cc, resolver.BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return r
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

// waitForState polls until the last published state satisfies ok.
func waitForState(t *testing.T, cc *recordingCC, ok func(resolver.State) bool) resolver.State {
	t.Helper()
	var last resolver.State
	waitFor(t, 10*time.Second, "no matching state", func() bool {
		states, _ := cc.snapshot()
		if len(states) == 0 {
			return false
		}
		last = states[len(states)-1]
		return ok(last)
	})
	return last
}

func stateAddrs(s resolver.State) []string {
	var out []string
	for _, ep := range s.Endpoints {
		out = append(out, ep.Addresses[0].Addr)
	}
	return out
}

func hasAddrs(want ...string) func(resolver.State) bool {
	want = slices.Sorted(slices.Values(want))
	return func(s resolver.State) bool {
		var fromAddresses []string
		for _, a := range s.Addresses {
			fromAddresses = append(fromAddresses, a.Addr)
		}
		return slices.Equal(stateAddrs(s), want) && slices.Equal(fromAddresses, want)
	}
}

// load calls the client from a few goroutines until finish and counts
// successes and failures.
type load struct {
	ok, failed atomic.Int64
	firstErr   atomic.Value
	stop       chan struct{}
	wg         sync.WaitGroup
}

func startLoad(c echopb.EchoClient, workers int) *load {
	l := &load{stop: make(chan struct{})}
	for range workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				_, err := c.Echo(ctx, &echopb.EchoRequest{})
				cancel()
				if err != nil {
					l.failed.Add(1)
					l.firstErr.CompareAndSwap(nil, err.Error())
				} else {
					l.ok.Add(1)
				}
				time.Sleep(2 * time.Millisecond) // pacing
			}
		}()
	}
	return l
}

func (l *load) finish() (ok, failed int64) {
	close(l.stop)
	l.wg.Wait()
	return l.ok.Load(), l.failed.Load()
}

// logRecorder keeps every log record, and prints them when the test fails.
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

func portOf(t *testing.T, addr string) int {
	t.Helper()
	p, err := strconv.Atoi(addr[strings.LastIndexByte(addr, ':')+1:])
	if err != nil {
		t.Fatal(err)
	}
	return p
}
