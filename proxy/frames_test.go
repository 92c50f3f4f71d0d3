package proxy_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/grpclb/grpclb/internal/balancertest"
	"github.com/grpclb/grpclb/internal/testbed"
	"github.com/grpclb/grpclb/internal/testbed/echopb"
	"github.com/grpclb/grpclb/internal/wait"
	"github.com/grpclb/grpclb/proxy"
)

func startFrames(t testing.TB, cfg *proxy.Config) (*proxy.Frames, string) {
	t.Helper()
	return startFramesWith(t, cfg, proxy.Options{})
}

// startFramesWith is startFrames with opts (its Logger discards, unless
// set).
func startFramesWith(t testing.TB, cfg *proxy.Config, opts proxy.Options) (*proxy.Frames, string) {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	f, err := proxy.NewFrames(cfg, opts)
	if err != nil {
		t.Fatalf("proxy.NewFrames: %v", err)
	}
	return f, balancertest.Serve(t, f.Serve, f.Stop)
}

// TestFramesAdmin: /metrics counts calls by route, cluster, upstream and
// code, and unrouted ones; /clusters lists the clusters; a drain makes
// /readyz 503. (/readyz following the clusters is TestHealthFollowsTheCluster's.)
func TestFramesAdmin(t *testing.T) {
	backend := startFleet(t, 1).Backends()[0]
	f, addr := startFrames(t, oneCluster(staticTarget(backend.Addr), echoService))
	admin := httptest.NewServer(f.AdminHandler())
	defer admin.Close()
	get := func(path string) (int, string) {
		resp, err := http.Get(admin.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	c := echopb.NewEchoClient(dial(t, addr))
	if _, err := c.Echo(testbed.Context(t, 5*time.Second), &echopb.EchoRequest{}); err != nil {
		t.Fatal(err)
	}
	if err := dial(t, addr).Invoke(testbed.Context(t, 5*time.Second), "/not.Routed/Call", &echopb.EchoRequest{}, &echopb.EchoResponse{}); status.Code(err) != codes.Unimplemented {
		t.Fatalf("an unrouted call: %v", err)
	}
	_, metrics := get("/metrics")
	for _, want := range []string{
		`grpclb_proxy_requests_total{cluster="c",code="OK",route="grpclb.testbed.v1.Echo",upstream="` + backend.Addr + `"}`,
		`grpclb_proxy_request_duration_seconds_bucket{cluster="c",route="grpclb.testbed.v1.Echo",upstream="` + backend.Addr + `",le="+Inf"}`,
		`grpclb_proxy_requests_in_flight{cluster="c",route="grpclb.testbed.v1.Echo"} 0`,
		`grpclb_proxy_unrouted_requests_total 1`,
		`grpclb_proxy_cluster_state{cluster="c",state="READY"} 1`,
		`grpclb_proxy_build_info{`,
		`grpclb_proxy_connections_open 2`,
		`grpclb_proxy_connections_refused_total 0`,
		`grpclb_proxy_buffered_bytes_limit 2.68435456e+08`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	var clusters []proxy.ClusterStatus
	_, body := get("/clusters")
	if err := json.Unmarshal([]byte(body), &clusters); err != nil || len(clusters) != 1 || clusters[0].Name != "c" || clusters[0].State != "READY" || !clusters[0].Healthy ||
		len(clusters[0].Endpoints) != 1 || clusters[0].Endpoints[0].Address != backend.Addr || clusters[0].Endpoints[0].State != "READY" {
		t.Fatalf("/clusters: %s (%v), want cluster c READY with its endpoint", body, err)
	}
	if code, _ := get("/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz: %d", code)
	}
	drained := make(chan error, 1)
	go func() { drained <- f.Drain(t.Context()) }()
	wait.Until(t, 10*time.Second, func() (bool, string) {
		code, body := get("/readyz")
		return code == http.StatusServiceUnavailable && strings.Contains(body, "draining"), "/readyz " + body
	})
	f.Stop()
	<-drained
}
