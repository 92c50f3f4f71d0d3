package xds_test

import (
	"context"
	"testing"
	"time"

	corepb "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointpb "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	discoverypb "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc/resolver"

	"github.com/grpclb/grpclb/internal/testbed/echopb"
	"github.com/grpclb/grpclb/xds"
)

// Until a service's resolver first answers, the service has no
// ClusterLoadAssignment: an EDS request gets none (so clients wait for it)
// rather than an empty one (on which grpc-go fails calls with "no targets
// to pick from"). A call started then succeeds once the resolver answers.
func TestNoAssignmentBeforeTheResolversFirstUpdate(t *testing.T) {
	bs := startBackends(t, 1)
	srv, addr := startServer(t, xds.Config{Services: []xds.Service{{Name: "svc", Target: gateScheme + ":///svc"}}})
	cc := <-gate // the resolver xds built: it publishes only when told
	if v := srv.Version(); v != 1 {
		t.Fatalf("version before any update %d, want 1", v)
	}

	c := dial(t, addr, "svc")
	answered := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_, err := c.Echo(ctx, &echopb.EchoRequest{})
		answered <- err
	}()

	stream := adsStream(t, addr)
	eds := func(version, nonce string) *discoverypb.DiscoveryRequest {
		return &discoverypb.DiscoveryRequest{Node: &corepb.Node{Id: "raw"}, TypeUrl: resource.EndpointType,
			ResourceNames: []string{"svc"}, VersionInfo: version, ResponseNonce: nonce}
	}
	if err := stream.Send(eds("", "")); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if n := len(resp.GetResources()); n != 0 {
		t.Fatalf("before the resolver's first update, EDS answered %d assignments, want none", n)
	}
	if err := stream.Send(eds(resp.GetVersionInfo(), resp.GetNonce())); err != nil { // ACK
		t.Fatal(err)
	}

	if err := cc.UpdateState(state(bs[0])); err != nil {
		t.Fatal(err)
	}
	resp, err = stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var cla endpointpb.ClusterLoadAssignment
	if len(resp.GetResources()) != 1 || resp.GetResources()[0].UnmarshalTo(&cla) != nil || cla.GetClusterName() != "svc" {
		t.Fatalf("after the first update, EDS answered %v; want svc's assignment", resp)
	}
	if err := <-answered; err != nil {
		t.Errorf("a call started before the resolver's first update failed: %v", err)
	}
}

// gateScheme is a resolver that publishes nothing by itself: each Build
// hands its ClientConn to the test on gate. (grpc-go's manual resolver
// replays its last state on every Build.)
const gateScheme = "xdstest-gate"

var gate = make(chan resolver.ClientConn, 1)

type gateBuilder struct{}

func (gateBuilder) Build(_ resolver.Target, cc resolver.ClientConn, _ resolver.BuildOptions) (resolver.Resolver, error) {
	gate <- cc
	return gateResolver{}, nil
}

func (gateBuilder) Scheme() string { return gateScheme }

type gateResolver struct{}

func (gateResolver) ResolveNow(resolver.ResolveNowOptions) {}
func (gateResolver) Close()                                {}

func init() { resolver.Register(gateBuilder{}) }
