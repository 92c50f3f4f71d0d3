package proxy_test

import (
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	"google.golang.org/grpc"

	"github.com/grpclb/grpclb/proxy"
)

// A fresh proxy already exports what dashboards and alerts key on: both
// reload results at 0 (an alert on the error series must be able to fire
// on the first failure) and build_info. On both data planes.
func TestMetricsExistFromTheStart(t *testing.T) {
	for _, plane := range dataPlanes {
		t.Run(plane, func(t *testing.T) {
			f := startFleet(t, 1)
			p, _ := startPlane(t, plane, oneCluster(staticTarget(f.Addrs()...), echoService), proxy.Options{})
			admin := httptest.NewServer(p.AdminHandler())
			defer admin.Close()
			body := get(t, admin.URL+"/metrics")
			for _, want := range []string{
				`grpclb_proxy_config_reloads_total{result="error"} 0`,
				`grpclb_proxy_config_reloads_total{result="ok"} 0`,
				`goversion="` + runtime.Version() + `"`,
			} {
				if !strings.Contains(body, want) {
					t.Errorf("/metrics lacks %s", want)
				}
			}
			for _, line := range strings.Split(body, "\n") {
				if strings.HasPrefix(line, "grpclb_proxy_build_info{") {
					if !strings.HasSuffix(line, "} 1") || !strings.Contains(line, `grpc_go="`+grpc.Version+`"`) {
						t.Errorf("build_info: %s", line)
					}
					return
				}
			}
			t.Error("/metrics lacks grpclb_proxy_build_info")
		})
	}
}
