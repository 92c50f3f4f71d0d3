package proxy_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/grpclb/grpclb/internal/testbed"
	"github.com/grpclb/grpclb/internal/testbed/echopb"
	"github.com/grpclb/grpclb/internal/wait"
	"github.com/grpclb/grpclb/proxy"
)

// A backend that stops answering without closing its connections (frozen:
// the kernel still ACKs, as with a node that died behind a NAT or a
// SIGSTOPped process) is dropped by the cluster's keepalive: its
// connection's ping goes unanswered, the connection is closed, and the
// calls go to the other backend. Without keepalive round_robin keeps
// sending it every other call. On both data planes (grpc-go's client, on
// the grpc plane, pings after 10s at the least).
func TestKeepaliveDropsAFrozenBackend(t *testing.T) {
	for _, plane := range dataPlanes {
		t.Run(plane, func(t *testing.T) {
			ka := &proxy.Keepalive{Time: proxy.Duration(200 * time.Millisecond), Timeout: proxy.Duration(300 * time.Millisecond)}
			if plane == "grpc" {
				ka.Time = proxy.Duration(10 * time.Second)
			}
			f := startFleet(t, 2)
			frozen := f.Backends()[0]
			cfg := oneCluster(staticTarget(f.Addrs()...), echoService)
			cfg.Clusters["c"].Keepalive = ka
			c := echopb.NewEchoClient(dial(t, startOn(t, plane, cfg)))
			wait.For(t, 10*time.Second, "both backends to answer", func() bool {
				if _, err := c.Echo(testbed.Context(t, 5*time.Second), &echopb.EchoRequest{}); err != nil {
					t.Fatal(err)
				}
				return frozen.Served() > 0 && f.Backends()[1].Served() > 0
			})
			frozen.Freeze()
			t.Cleanup(frozen.Thaw)

			// Calls of 500ms until 20 in a row succeed: the frozen
			// backend's connection has been dropped.
			inRow, calls, failed := 0, 0, 0
			wait.Until(t, time.Duration(ka.Time)+15*time.Second, func() (bool, string) {
				calls++
				if _, err := c.Echo(testbed.Context(t, 500*time.Millisecond), &echopb.EchoRequest{}); err != nil {
					inRow, failed = 0, failed+1
				} else {
					inRow++
				}
				return inRow >= 20, fmt.Sprintf("%d calls, %d failed, the last %d in a row answered", calls, failed, inRow)
			})
			t.Logf("%d calls until 20 in a row were answered, %d failed", calls, failed)
		})
	}
}
