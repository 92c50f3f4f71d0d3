package xds_test

import (
	"net"
	"strings"
	"testing"

	"github.com/grpclb/grpclb/xds"
	"github.com/grpclb/grpclb/xds/xdstest"
)

// A client keeps the endpoints it has while its control plane is away,
// and when a control plane is back on the address, it is sent the current
// state, not the one it had: an endpoint added meanwhile gets calls, one
// removed meanwhile gets none.
func TestClientReconnectsToCurrentState(t *testing.T) {
	bs := startBackends(t, 3)
	config := func(bs ...*backend) xds.Config {
		return xds.Config{Services: []xds.Service{{Name: "svc", Target: "static:///" + strings.Join(addrs(bs...), ",")}}}
	}
	first, err := xds.NewServer(config(bs[0], bs[1]), xds.Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	served := make(chan error, 1)
	go func() { served <- first.Serve(lis) }()
	c := dial(t, addr, "svc")
	waitAllServe(t, c, bs[0], bs[1])

	first.Close() // the control plane goes away; its listener closes
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if by, failed := tally(c, 40); failed > 0 || by["b0"] == 0 || by["b1"] == 0 {
		t.Errorf("with the control plane away, 40 calls: %v, %d failed; want both known backends, none failed", by, failed)
	}

	second, err := xds.NewServer(config(bs[1], bs[2]), xds.Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	lis2, err := net.Listen("tcp", addr)
	if err != nil {
		second.Close()
		t.Fatalf("the control plane's address again: %v", err)
	}
	xdstest.ServeListener(t, second, lis2)
	waitAllServe(t, c, bs[2])
	before := bs[0].calls.Load()
	if by, failed := tally(c, 40); failed > 0 || by["b0"] > 0 || bs[0].calls.Load() != before {
		t.Errorf("after reconnecting, 40 calls: %v, %d failed; b0 left the config meanwhile", by, failed)
	}
}
