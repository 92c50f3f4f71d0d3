// Package xdstest runs an xds.Server and grpc-go's own xDS client for
// tests: the server on a loopback port, closed with the test, and clients
// each with a bootstrap (and node) of their own.
package xdstest

import (
	"fmt"
	"net"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	grpcxds "google.golang.org/grpc/xds" // grpc-go's own xDS client

	"github.com/grpclb/grpclb/xds"
)

// Serve serves srv on 127.0.0.1 until the test ends, then closes it and
// fails the test if Serve failed. It returns the address.
func Serve(tb testing.TB, srv *xds.Server) string {
	tb.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		srv.Close()
		tb.Fatal(err)
	}
	ServeListener(tb, srv, lis)
	return lis.Addr().String()
}

// ServeListener is Serve on lis.
func ServeListener(tb testing.TB, srv *xds.Server, lis net.Listener) {
	tb.Helper()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(lis) }()
	tb.Cleanup(func() {
		srv.Close()
		if err := <-done; err != nil {
			tb.Errorf("xds.Server.Serve: %v", err)
		}
	})
}

// Start builds a Server for cfg with opts and serves it (Serve).
func Start(tb testing.TB, cfg xds.Config, opts xds.Options) (*xds.Server, string) {
	tb.Helper()
	srv, err := xds.NewServer(cfg, opts)
	if err != nil {
		tb.Fatal(err)
	}
	return srv, Serve(tb, srv)
}

// nodes numbers the clients' node IDs.
var nodes atomic.Int64

// Dial connects grpc-go's own xDS client to xds:///service through the
// control plane at addr, as a node of its own in zone (may be ""), with
// opts added. The connection is closed when the test ends.
func Dial(tb testing.TB, addr, service, zone string, opts ...grpc.DialOption) *grpc.ClientConn {
	tb.Helper()
	return DialNode(tb, addr, service, fmt.Sprintf("xdstest-node-%d", nodes.Add(1)), zone, opts...)
}

// DialNode is Dial as the node called nodeID: a client that restarts
// comes back as the same node.
func DialNode(tb testing.TB, addr, service, nodeID, zone string, opts ...grpc.DialOption) *grpc.ClientConn {
	tb.Helper()
	bs, err := xds.Bootstrap(addr, nodeID, zone)
	if err != nil {
		tb.Fatal(err)
	}
	rb, err := grpcxds.NewXDSResolverWithConfigForTesting(bs)
	if err != nil {
		tb.Fatal(err)
	}
	opts = append([]grpc.DialOption{grpc.WithResolvers(rb), grpc.WithTransportCredentials(insecure.NewCredentials())}, opts...)
	cc, err := grpc.NewClient("xds:///"+service, opts...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { cc.Close() })
	return cc
}
