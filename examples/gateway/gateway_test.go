package main

import (
	"bytes"
	"net"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The gateway's HTTP requests are balanced per request over three
// backends behind one grpclb client. (With grpc-go's defaults, pick_first,
// every request would go to one backend.)
func TestGatewaySpreadsRequests(t *testing.T) {
	bs, err := startBackends(3)
	if err != nil {
		t.Fatal(err)
	}
	defer bs.Close()
	g, err := newGateway("static:///" + strings.Join(bs.addrs, ","))
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
	url := "http://" + lis.Addr().String() + "/v1/echo"
	// Warm up until every backend has answered once: the client connects
	// to the three (and health-checks them) in parallel, and one that
	// comes up a few milliseconds late is not what this test measures.
	for i := 0; ; i++ {
		seen, err := send(url, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(seen) == 3 {
			break
		}
		if i == 100 {
			t.Fatalf("after %d requests, only %d backends answered", 10*i, len(seen))
		}
	}
	// Identical backends take turns under p2c_ewma (their latencies are
	// within its tolerance): each answers about a third, where pick_first
	// would send everything to one. A backend that the machine's load
	// (other test packages on the same cores) makes slower for a moment is
	// rightly avoided, so the spread is measured up to three times.
	const n = 300
	fair := func(spread map[string]int) bool {
		if len(spread) != 3 {
			return false
		}
		for _, c := range spread {
			if c < n*25/100 || c > n*42/100 {
				return false
			}
		}
		return true
	}
	var spread map[string]int
	for attempt := 1; attempt <= 3; attempt++ {
		var err error
		if spread, err = send(url, n); err != nil {
			t.Fatal(err)
		}
		t.Logf("attempt %d: spread %v", attempt, spread)
		if fair(spread) {
			return
		}
	}
	t.Errorf("3 attempts of %d requests; the last spread %v, want each of 3 backends at 25%% to 42%%", n, spread)
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
