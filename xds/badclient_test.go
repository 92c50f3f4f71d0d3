package xds_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	clusterpb "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corepb "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoverypb "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/grpclb/grpclb/internal/testbed"
	"github.com/grpclb/grpclb/internal/wait"
	"github.com/grpclb/grpclb/xds"
	"github.com/grpclb/grpclb/xds/xdstest"
)

// startLoggedServer is startServer with the server's log in a buffer.
func startLoggedServer(t *testing.T, cfg xds.Config) (string, *testbed.SyncBuffer) {
	t.Helper()
	log := &testbed.SyncBuffer{}
	_, addr := xdstest.Start(t, cfg, xds.Options{Logger: slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	return addr, log
}

// adsStream opens a raw ADS stream to addr, ended with the test.
func adsStream(t *testing.T, addr string) discoverypb.AggregatedDiscoveryService_StreamAggregatedResourcesClient {
	t.Helper()
	cc, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	stream, err := discoverypb.NewAggregatedDiscoveryServiceClient(cc).StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return stream
}

// A client that rejects what it was sent (a NACK) is logged with its node,
// the type and its error, and is still served: its next request gets the
// resources again, and other clients are unaffected.
func TestNACKIsLoggedAndServingGoesOn(t *testing.T) {
	bs := startBackends(t, 1)
	addr, log := startLoggedServer(t, xds.Config{Services: []xds.Service{{Name: "svc", Target: "static:///" + bs[0].addr}}})
	node := &corepb.Node{Id: "nacking-client"}
	stream := adsStream(t, addr)
	if err := stream.Send(&discoverypb.DiscoveryRequest{Node: node, TypeUrl: resource.ClusterType, ResourceNames: []string{"svc"}}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var c clusterpb.Cluster
	if len(resp.GetResources()) != 1 || resp.GetResources()[0].UnmarshalTo(&c) != nil || c.GetName() != "svc" {
		t.Fatalf("first response %v; want the cluster svc", resp)
	}
	if err := stream.Send(&discoverypb.DiscoveryRequest{Node: node, TypeUrl: resource.ClusterType, ResourceNames: []string{"svc"},
		ResponseNonce: resp.GetNonce(), ErrorDetail: &statuspb.Status{Code: 3, Message: "cluster svc: unsupported policy"}}); err != nil {
		t.Fatal(err)
	}
	wait.Until(t, 10*time.Second, func() (bool, string) {
		l := log.String()
		return strings.Contains(l, "NACK") && strings.Contains(l, "nacking-client") && strings.Contains(l, "unsupported policy"),
			"the log does not name the NACK, its node and its error:\n" + l
	})

	// Another client still gets served.
	other := adsStream(t, addr)
	if err := other.Send(&discoverypb.DiscoveryRequest{Node: &corepb.Node{Id: "other"}, TypeUrl: resource.ClusterType, ResourceNames: []string{"svc"}}); err != nil {
		t.Fatal(err)
	}
	if resp, err := other.Recv(); err != nil || len(resp.GetResources()) != 1 {
		t.Errorf("after a NACK, another client got %v, %v", resp, err)
	}
}

// Requests without a node, with an empty node ID or with a type the server
// does not serve end or are answered without crashing the server: a later
// well-formed client is served.
func TestMalformedClientsDoNotHurtTheServer(t *testing.T) {
	bs := startBackends(t, 1)
	addr, log := startLoggedServer(t, xds.Config{Services: []xds.Service{{Name: "svc", Target: "static:///" + bs[0].addr}}})
	for i, req := range []*discoverypb.DiscoveryRequest{
		{TypeUrl: resource.ClusterType, ResourceNames: []string{"svc"}},                                        // no node
		{Node: &corepb.Node{}, TypeUrl: resource.ClusterType, ResourceNames: []string{"svc"}},                  // empty node ID
		{Node: &corepb.Node{Id: "n"}, TypeUrl: "type.googleapis.com/not.a.Type", ResourceNames: []string{"x"}}, // unknown type
		{Node: &corepb.Node{Id: "n"}}, // no type
		{Node: &corepb.Node{Id: "n", Locality: &corepb.Locality{Zone: strings.Repeat("z", 10000)}}, TypeUrl: resource.ClusterType, ResourceNames: []string{"svc"}},
	} {

		stream := adsStream(t, addr)
		if err := stream.Send(req); err != nil {
			continue
		}
		answered := make(chan error, 1) // buffered: the goroutine never blocks, and never logs
		go func() {
			_, err := stream.Recv()
			answered <- err
		}()
		select {
		case err := <-answered:
			t.Logf("malformed request %d: answered, or ended with %v", i, err)
		case <-time.After(time.Second): // not answered: the stream stays open; fine
			t.Logf("malformed request %d: not answered within 1s", i)
		}
	}
	good := adsStream(t, addr)
	if err := good.Send(&discoverypb.DiscoveryRequest{Node: &corepb.Node{Id: "good"}, TypeUrl: resource.ClusterType, ResourceNames: []string{"svc"}}); err != nil {
		t.Fatal(err)
	}
	if resp, err := good.Recv(); err != nil || len(resp.GetResources()) != 1 {
		t.Errorf("after malformed clients, a good one got %v, %v\n%s", resp, err, log.String())
	}
}
