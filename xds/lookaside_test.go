package xds_test

import (
	"context"
	"net/netip"
	"sort"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	_ "google.golang.org/grpc/balancer/grpclb" // grpc-go's own grpc.lb.v1 client
	lbpb "google.golang.org/grpc/balancer/grpclb/grpc_lb_v1"
	grpclbstate "google.golang.org/grpc/balancer/grpclb/state"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"
	"google.golang.org/grpc/status"

	"github.com/grpclb/grpclb/internal/testbed/echopb"
	"github.com/grpclb/grpclb/xds"
)

// dialLookaside connects grpc-go's grpclb balancer to service through the
// grpc.lb.v1 server at lbAddr.
func dialLookaside(t *testing.T, lbAddr, service string) echopb.EchoClient {
	t.Helper()
	r := manual.NewBuilderWithScheme("lookaside-client")
	r.InitialState(grpclbstate.Set(resolver.State{}, &grpclbstate.State{
		BalancerAddresses: []resolver.Address{{Addr: lbAddr, ServerName: "grpclb-xds"}},
	}))
	cc, err := grpc.NewClient("lookaside-client:///"+service,
		grpc.WithResolvers(r),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultServiceConfig(`{"loadBalancingConfig":[{"grpclb":{"serviceName":"`+service+`","childPolicy":[{"round_robin":{}}]}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return echopb.NewEchoClient(cc)
}

// grpc-go's grpclb balancer, the client of the lookaside protocol the xDS
// protocol replaced, gets its backends from the same resolvers: it
// reaches every backend, follows a change, and stops calling a removed
// backend.
func TestLookasideClientFollowsEndpoints(t *testing.T) {
	bs := startBackends(t, 4)
	src, target := source(t, "lookaside", state(bs[0], bs[1], bs[2]))
	_, addr := startServer(t, xds.Config{Services: []xds.Service{{Name: "svc", Target: target}}})
	c := dialLookaside(t, addr, "svc")
	waitAllServe(t, c, bs[0], bs[1], bs[2])

	src.UpdateState(state(bs[1], bs[2], bs[3]))
	waitAllServe(t, c, bs[3])
	before := bs[0].calls.Load()
	if by, failed := tally(c, 60); failed > 0 || by["b0"] > 0 || bs[0].calls.Load() != before {
		t.Errorf("after b0 left, 60 calls: %v, %d failed", by, failed)
	}
}

// The protocol on the wire: a name with a port finds its service, and the
// list holds each endpoint's IP and port; an unknown name and a first
// message that is not an initial request are refused with what is wrong.
func TestLookasideProtocol(t *testing.T) {
	bs := startBackends(t, 2)
	_, target := source(t, "lookaside-raw", state(bs...))
	_, addr := startServer(t, xds.Config{Services: []xds.Service{{Name: "svc", Target: target}}})
	cc, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	lb := lbpb.NewLoadBalancerClient(cc)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	open := func(first *lbpb.LoadBalanceRequest) lbpb.LoadBalancer_BalanceLoadClient {
		t.Helper()
		stream, err := lb.BalanceLoad(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := stream.Send(first); err != nil {
			t.Fatal(err)
		}
		return stream
	}
	initial := func(name string) *lbpb.LoadBalanceRequest {
		return &lbpb.LoadBalanceRequest{LoadBalanceRequestType: &lbpb.LoadBalanceRequest_InitialRequest{
			InitialRequest: &lbpb.InitialLoadBalanceRequest{Name: name},
		}}
	}

	stream := open(initial("svc:443"))
	resp, err := stream.Recv()
	if err != nil || resp.GetInitialResponse() == nil {
		t.Fatalf("first response %v, %v; want an initial response", resp, err)
	}
	if d := resp.GetInitialResponse().GetClientStatsReportInterval(); d != nil {
		t.Errorf("client stats asked every %v; want none", d)
	}
	var got []string
	for {
		resp, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if list := resp.GetServerList(); list != nil {
			for _, s := range list.GetServers() {
				ip, _ := netip.AddrFromSlice(s.GetIpAddress())
				got = append(got, netip.AddrPortFrom(ip, uint16(s.GetPort())).String())
			}
			break
		}
	}
	want := []string{bs[0].addr, bs[1].addr}
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("server list %v, want %v", got, want)
	}

	for _, tc := range []struct {
		name  string
		first *lbpb.LoadBalanceRequest
		code  codes.Code
		msg   string
	}{
		{"unknown service", initial("nope"), codes.NotFound, `no service "nope" (served: svc)`},
		{"no initial request", &lbpb.LoadBalanceRequest{LoadBalanceRequestType: &lbpb.LoadBalanceRequest_ClientStats{ClientStats: &lbpb.ClientStats{}}}, codes.InvalidArgument, "must be an initial request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := open(tc.first).Recv()
			if st := status.Convert(err); st.Code() != tc.code || !strings.Contains(st.Message(), tc.msg) {
				t.Errorf("got %v; want %v with %q", err, tc.code, tc.msg)
			}
		})
	}
}
