package lab

import (
	"fmt"
	"net"
	"time"

	"google.golang.org/grpc"
	grpcxds "google.golang.org/grpc/xds" // grpc-go's own xDS client

	"github.com/grpclb/grpclb/xds"
)

// dialXDS runs grpclb's xDS control plane (package xds) over the world's
// registry and dials it with grpc-go's own xDS client: the path of a
// client in another language, which follows the control plane rather than
// the registry. The control plane lives as long as the client.
func dialXDS(w *World, p Params) (Client, error) {
	srv, err := xds.NewServer(xds.Config{Services: []xds.Service{{Name: "lab", Target: w.Registry.target()}}}, xds.Options{Logger: quiet})
	if err != nil {
		return nil, err
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		srv.Close()
		return nil, err
	}
	go srv.Serve(lis)
	bootstrap, err := xds.Bootstrap(lis.Addr().String(), "grpclb-lab", "")
	if err != nil {
		srv.Close()
		return nil, err
	}
	// A resolver with its own bootstrap, rather than the process-wide
	// GRPC_XDS_BOOTSTRAP_CONFIG, which grpc-go reads once.
	rb, err := grpcxds.NewXDSResolverWithConfigForTesting(bootstrap)
	if err != nil {
		srv.Close()
		return nil, fmt.Errorf("xds bootstrap: %w", err)
	}
	cc, err := grpc.NewClient("xds:///lab", append([]grpc.DialOption{insecureCreds, grpc.WithResolvers(rb)}, w.Registry.dialOptions()...)...)
	if err != nil {
		srv.Close()
		return nil, err
	}
	return &xdsClient{ClientConn: cc, srv: srv}, nil
}

// xdsClient is the xDS client and its control plane.
type xdsClient struct {
	*grpc.ClientConn
	srv *xds.Server
}

func (c *xdsClient) Close() error {
	err := c.ClientConn.Close()
	c.srv.Close()
	return err
}

// xdsStrategy is etcd+round_robin's registry served through grpclb xds.
var xdsStrategy = Strategy{
	Name: "xds+round_robin",
	Doc: "backends registered in etcd (register/etcd), served by grpclb's xDS control plane (package xds, " +
		"resolver/etcd inside it) to grpc-go's own xDS client (xds:///lab, round_robin from the Cluster): what a Java, " +
		"Python or Node client gets from grpclb xds",
	Registry:    func(Params) (registry, error) { return startEtcdRegistry() },
	Requires:    needBinary("etcd"),
	Dial:        dialXDS,
	PickupBound: func(Params) time.Duration { return 2 * time.Second },
}
