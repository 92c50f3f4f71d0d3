package proxy_test

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/grpclb/grpclb/internal/testbed"
)

// grpcurl (the real tool, built by scripts/grpcurl.sh) lists, describes
// and calls the backends' services through the proxy, by server
// reflection routed to the backends like any service. On both data
// planes.
func TestGrpcurlThroughProxy(t *testing.T) {
	for _, plane := range dataPlanes {
		t.Run(plane, func(t *testing.T) {
			bin := testbed.NeedCachedBinary(t, "GRPCLB_GRPCURL", "grpcurl-v1.9.4", "grpcurl")
			f := startFleet(t, 2)
			cfg := oneCluster(staticTarget(f.Addrs()...), "grpclb.testbed.v1.Echo",
				"grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection")
			addr := startOn(t, plane, cfg)
			run := func(args ...string) string {
				t.Helper()
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				out, err := exec.CommandContext(ctx, bin, append([]string{"-plaintext"}, args...)...).CombinedOutput()
				if err != nil {
					t.Fatalf("grpcurl %v: %v\n%s", args, err, out)
				}
				return string(out)
			}
			if out := run(addr, "list"); !strings.Contains(out, "grpclb.testbed.v1.Echo") {
				t.Errorf("grpcurl list through the proxy:\n%s", out)
			}
			if out := run(addr, "describe", "grpclb.testbed.v1.Echo"); !strings.Contains(out, "rpc Echo") {
				t.Errorf("grpcurl describe through the proxy:\n%s", out)
			}
			out := run("-d", `{}`, addr, "grpclb.testbed.v1.Echo/Echo")
			answered := false
			for _, b := range f.Backends() {
				answered = answered || strings.Contains(out, `"`+b.Name+`"`)
			}
			if !answered {
				t.Errorf("grpcurl call through the proxy:\n%s", out)
			}
		})
	}
}
