package lab

import (
	"fmt"
	"time"
)

// proxyScn: clients that cannot balance themselves reach the backends over
// one connection through an L7 proxy; how fast is each proxy, and does it
// spread the calls?
var proxyScn = Scenario{
	Name: "proxy",
	Doc: "3 backends; 64 callers on one client connection through an L7 proxy (grpclb proxy, nginx, HAProxy) " +
		"against client-side round_robin: calls per second, latency, and the spread of calls",
	Duration:   10 * time.Second,
	Initial:    3,
	Strategies: []string{"dns+round_robin", "proxy+grpclb", "proxy+grpclb-frames", "proxy+nginx", "proxy+haproxy"},
	Load:       atLeast(Params{Callers: 64}),
	Setting: func(p Params) string {
		return fmt.Sprintf("closed loop, %d callers, as fast as each path allows", max(p.Callers, 64))
	},
	Notes: map[string]string{
		"dns+round_robin":     "the reference: the client balances itself, one connection per backend, no proxy hop.",
		"proxy+grpclb":        "grpclb proxy --data-plane=grpc (a grpc-go server and client stream per call), run as its own process (GRPCLB_BINARY, or the lab's own grpclb binary), as nginx and HAProxy are.",
		"proxy+grpclb-frames": "grpclb proxy on its default data plane (--data-plane=frames): each call's HTTP/2 frames relayed without grpc-go's streams.",
	},
	Summary: func(r Result) string {
		s := fmt.Sprintf("%.0f calls/s", float64(r.RPCs)/r.Seconds)
		if rss, ok := r.Extra["proxy_peak_rss_mib"]; ok {
			s += fmt.Sprintf(", proxy process: %.1f ms CPU per 1000 calls, peak RSS %.0f MiB", r.Extra["proxy_cpu_ms_per_1k_calls"], rss)
		}
		return s
	},
}
