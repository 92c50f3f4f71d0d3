package main

import (
	"bytes"
	"net"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/grpclb/grpclb/internal/testbed"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The gateway's HTTP requests are balanced per request over three
// backends behind one grpclb client. (With grpc-go's defaults, pick_first,
// every request would go to one backend.)
func TestGatewaySpreadsRequests(t *testing.T) {
	f, err := testbed.StartFleet(3, testbed.FleetConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	g, err := newGateway("static:///" + strings.Join(f.Addrs(), ","))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srvDone := make(chan struct{})
	go func() {
		defer close(srvDone)
		serve(lis, g)
	}()
	defer func() {
		lis.Close()
		<-srvDone
	}()
	const n = 300
	spread, err := send("http://"+lis.Addr().String()+"/v1/echo", n)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("spread: %v", spread)
	if len(spread) != 3 {
		t.Fatalf("requests reached %d backends, want 3: %v", len(spread), spread)
	}
	// p2c_ewma favours whichever backend answers fastest at the moment
	// (one call at a time, a latency spike keeps a backend dearer for a
	// while), so shares are not even; but no backend takes the lion's share,
	// as pick_first's one backend would.
	for b, c := range spread {
		if c > n*8/10 {
			t.Errorf("backend %s answered %d of %d", b, c, n)
		}
	}
}

// The command itself: its own backends, 90 requests, the spread printed.
func TestRunRequests(t *testing.T) {
	var out bytes.Buffer
	if err := run([]string{"--listen", "127.0.0.1:0", "--requests", "90"}, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"90 HTTP requests", "b1", "b2", "b3"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
