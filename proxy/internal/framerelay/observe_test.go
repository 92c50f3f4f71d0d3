package framerelay_test

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"
	"google.golang.org/protobuf/proto"

	"github.com/grpclb/grpclb/internal/balancertest"
	"github.com/grpclb/grpclb/internal/testbed"
	"github.com/grpclb/grpclb/internal/testbed/echopb"
	"github.com/grpclb/grpclb/internal/wait"
	"github.com/grpclb/grpclb/proxy/internal/framerelay"
)

// recorder is an Observer that counts what it hears.
type recorder struct {
	mu       sync.Mutex
	started  map[int]int
	ended    map[string]int // "route upstream code"
	unrouted int
	gone     []string
	lastOK   framerelay.CallEnd // the last call that ended OK
}

func (r *recorder) CallStarted(route int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.started[route]++
}

func (r *recorder) CallEnded(e framerelay.CallEnd) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e.Took <= 0 {
		e.Code = 999 // a call ended before it started: shows in the counts
	}
	r.ended[fmt.Sprintf("%d %s %v", e.Route, e.Upstream, e.Code)]++
	if e.Code == codes.OK {
		r.lastOK = e
	}
}

func (r *recorder) Unrouted() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.unrouted++
}

func (r *recorder) EndpointGone(cluster, addr string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.gone = append(r.gone, cluster+" "+addr)
}

func (r *recorder) snapshot() (map[int]int, map[string]int, int, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	started, ended := map[int]int{}, map[string]int{}
	for k, v := range r.started {
		started[k] = v
	}
	for k, v := range r.ended {
		ended[k] = v
	}
	return started, ended, r.unrouted, append([]string(nil), r.gone...)
}

// TestObserverHearsEveryCall: every routed call is announced and ends
// once, with the backend it reached, the code its client got, its method,
// client address and bytes each way; refused paths are unrouted; an
// endpoint the resolver drops is gone.
func TestObserverHearsEveryCall(t *testing.T) {
	f := startFleet(t, 2)
	a, b := f.Addrs()[0], f.Addrs()[1]
	mr := manual.NewBuilderWithScheme("framerelay-observe")
	mr.InitialState(resolver.State{Endpoints: balancertest.EndpointsOf(a, b)})
	resolver.Register(mr)
	rec := &recorder{started: map[int]int{}, ended: map[string]int{}}
	r, err := framerelay.NewRouted(framerelay.Config{
		Clusters: map[string]framerelay.Cluster{
			"echo": {Target: mr.Scheme() + ":///echo", LBConfig: `[{"pick_first":{}}]`},
			"none": {Target: "static:///" + testbed.RefusingAddr(t)},
		},
		Routes: []framerelay.Route{
			{Prefix: "/grpclb.testbed.v1.Echo/Echo", Cluster: "echo"},
			{Prefix: "/grpclb.testbed.v1.Echo/EchoStream", Cluster: "none"},
		},
		Observer: rec,
	})
	if err != nil {
		t.Fatal(err)
	}
	cc := dial(t, balancertest.Serve(t, r.Serve, r.Close))
	c := echopb.NewEchoClient(cc)
	req := &echopb.EchoRequest{Payload: make([]byte, 100)}
	var resp *echopb.EchoResponse
	for range 5 {
		if resp, err = c.Echo(testbed.Context(t, 10*time.Second), req); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(t.Context())
	if s, err := c.EchoStream(ctx); err == nil { // route 1: no backend
		_, _ = s.Recv()
	}
	cancel()
	_ = cc.Invoke(testbed.Context(t, 10*time.Second), "/grpclb.testbed.v1.Echo/Nope/..", &echopb.EchoRequest{}, &echopb.EchoResponse{})

	wait.Until(t, 10*time.Second, func() (bool, string) {
		started, ended, unrouted, _ := rec.snapshot()
		n := 0
		for _, v := range ended {
			n += v
		}
		return started[0] == 5 && started[1] == 1 && n == 6 && unrouted == 1 && ended["0 "+a+" OK"] == 5,
			fmt.Sprintf("started %v, ended %v, unrouted %d", started, ended, unrouted)
	})
	_, ended, _, _ := rec.snapshot()
	if ended["1  Unavailable"] != 1 {
		t.Errorf("the call with no backend ended as %v, want once Unavailable without an upstream", ended)
	}
	rec.mu.Lock()
	e := rec.lastOK
	rec.mu.Unlock()
	host, _, err := net.SplitHostPort(e.Client)
	if e.Method != echopb.Echo_Echo_FullMethodName || err != nil || host != "127.0.0.1" || e.Took <= 0 ||
		e.RequestBytes != int64(proto.Size(req)) || e.ResponseBytes != int64(proto.Size(resp)) {
		t.Errorf("an Echo call ended as %+v, want method %s, a 127.0.0.1 client, %d bytes in and %d out", e, echopb.Echo_Echo_FullMethodName, proto.Size(req), proto.Size(resp))
	}

	mr.UpdateState(resolver.State{Endpoints: balancertest.EndpointsOf(b)})
	wait.Until(t, 10*time.Second, func() (bool, string) {
		_, _, _, gone := rec.snapshot()
		return len(gone) == 1 && gone[0] == "echo "+a, fmt.Sprintf("gone %v, want [echo %s]", gone, a)
	})
}
