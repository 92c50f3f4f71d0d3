package proxy_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/grpclb/grpclb/internal/testbed"
	"github.com/grpclb/grpclb/internal/testbed/echopb"
	"github.com/grpclb/grpclb/internal/wait"
	"github.com/grpclb/grpclb/proxy"
)

// Health follows the cluster: with its only backend down, the routed
// service is NOT_SERVING, /readyz is 503 and says why, and calls get
// UNAVAILABLE naming the cluster; with the backend back, SERVING and 200
// again. On both data planes.
func TestHealthFollowsTheCluster(t *testing.T) {
	for _, plane := range dataPlanes {
		t.Run(plane, func(t *testing.T) { testHealthFollowsTheCluster(t, plane) })
	}
}

func testHealthFollowsTheCluster(t *testing.T, plane string) {
	f := startFleet(t, 1)
	p, addr := startAdminOn(t, plane, oneCluster(staticTarget(f.Addrs()...), echoService))
	admin := httptest.NewServer(p.AdminHandler())
	defer admin.Close()
	cc := dial(t, addr)
	health := healthpb.NewHealthClient(cc)
	statusOf := func(service string) healthpb.HealthCheckResponse_ServingStatus {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		r, err := health.Check(ctx, &healthpb.HealthCheckRequest{Service: service})
		if err != nil {
			t.Fatalf("health of %q: %v", service, err)
		}
		return r.GetStatus()
	}
	ready := func(want bool) {
		t.Helper()
		wait.Until(t, 30*time.Second, func() (bool, string) {
			code, body := readyz(t, admin.URL)
			svc, all := statusOf(echoService), statusOf("")
			wantStatus := healthpb.HealthCheckResponse_NOT_SERVING
			if want {
				wantStatus = healthpb.HealthCheckResponse_SERVING
			}
			return (code == http.StatusOK) == want && svc == wantStatus && all == wantStatus,
				"/readyz " + http.StatusText(code) + " " + body + "; health " + svc.String() + ", overall " + all.String()
		})
	}
	ready(true)

	b := f.Backends()[0]
	b.Kill()
	ready(false)
	if _, body := readyz(t, admin.URL); !strings.Contains(body, "no cluster has a healthy upstream (c ") {
		t.Errorf("/readyz body %q does not say why", body)
	}
	_, err := echopb.NewEchoClient(cc).Echo(ctxTimeout(t, 5*time.Second), &echopb.EchoRequest{})
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "no healthy upstream for cluster c") {
		t.Errorf("call with the cluster down: %v", err)
	}

	if err := b.Restart(); err != nil {
		t.Fatal(err)
	}
	ready(true)
}

// One empty cluster among healthy ones makes its services NOT_SERVING,
// not the whole proxy: /readyz stays 200 and the other service SERVING.
// On both data planes.
func TestOneUnhealthyClusterOfTwo(t *testing.T) {
	for _, plane := range dataPlanes {
		t.Run(plane, func(t *testing.T) { testOneUnhealthyClusterOfTwo(t, plane) })
	}
}

func testOneUnhealthyClusterOfTwo(t *testing.T, plane string) {
	f := startFleet(t, 1)
	dead := testbed.RefusingAddr(t)
	cfg := oneCluster(staticTarget(f.Addrs()...), echoService)
	cfg.Clusters["down"] = &proxy.Cluster{Target: "passthrough:///" + dead}
	cfg.Routes = append(cfg.Routes, proxy.Route{Service: "other.Service", Cluster: "down"})
	p, addr := startAdminOn(t, plane, cfg)
	admin := httptest.NewServer(p.AdminHandler())
	defer admin.Close()
	health := healthpb.NewHealthClient(dial(t, addr))
	wait.Until(t, 30*time.Second, func() (bool, string) {
		ctx := ctxTimeout(t, 5*time.Second)
		up, err1 := health.Check(ctx, &healthpb.HealthCheckRequest{Service: echoService})
		down, err2 := health.Check(ctx, &healthpb.HealthCheckRequest{Service: "other.Service"})
		code, body := readyz(t, admin.URL)
		return err1 == nil && err2 == nil && up.GetStatus() == healthpb.HealthCheckResponse_SERVING &&
				down.GetStatus() == healthpb.HealthCheckResponse_NOT_SERVING && code == http.StatusOK,
			"echo " + up.GetStatus().String() + ", other " + down.GetStatus().String() + ", /readyz " + body
	})
}

// readyz returns /readyz's status code and body.
func readyz(t *testing.T, base string) (int, string) {
	t.Helper()
	resp, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}
