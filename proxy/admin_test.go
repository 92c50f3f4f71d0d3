package proxy_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/grpclb/grpclb/internal/testbed"
	"github.com/grpclb/grpclb/internal/testbed/echopb"
	"github.com/grpclb/grpclb/internal/wait"
	"github.com/grpclb/grpclb/proxy"
)

// TestMetricsPerRouteAndEndpoint: /metrics counts calls per route,
// cluster, upstream endpoint and code, and has latency histograms and
// byte counters. On both data planes.
func TestMetricsPerRouteAndEndpoint(t *testing.T) {
	for _, plane := range dataPlanes {
		t.Run(plane, func(t *testing.T) {
			f, p, client := proxiedEchoOn(t, plane, 2)
			admin := httptest.NewServer(p.AdminHandler())
			defer admin.Close()
			warmUp(t, client, f)
			f.Backends()[1].SetErrorRate(1, codes.PermissionDenied)
			ctx := ctxTimeout(t, 10*time.Second)
			for range 20 {
				_, _ = client.Echo(ctx, &echopb.EchoRequest{Payload: make([]byte, 100)})
			}
			b0, b1 := f.Backends()[0].Addr, f.Backends()[1].Addr

			body := get(t, admin.URL+"/metrics")
			for _, want := range []string{
				`grpclb_proxy_requests_total{cluster="c",code="OK",route="grpclb.testbed.v1.Echo",upstream="` + b0 + `"}`,
				`grpclb_proxy_requests_total{cluster="c",code="PermissionDenied",route="grpclb.testbed.v1.Echo",upstream="` + b1 + `"} 10`,
				`grpclb_proxy_request_duration_seconds_bucket{cluster="c",route="grpclb.testbed.v1.Echo",upstream="` + b0 + `",le="+Inf"}`,
				`grpclb_proxy_request_message_bytes_total{cluster="c",route="grpclb.testbed.v1.Echo"}`,
				`grpclb_proxy_response_message_bytes_total{cluster="c",route="grpclb.testbed.v1.Echo"}`,
				`grpclb_proxy_requests_in_flight{cluster="c",route="grpclb.testbed.v1.Echo"} 0`,
				`grpclb_proxy_config_loaded_timestamp_seconds`,
				`go_goroutines`,
			} {
				if !strings.Contains(body, want) {
					t.Errorf("/metrics lacks %s", want)
				}
			}
			if t.Failed() {
				t.Logf("/metrics:\n%s", grepLines(body, "grpclb_proxy_"))
			}
		})
	}
}

func TestMetricsUnroutedAndReloads(t *testing.T) {
	for _, plane := range dataPlanes {
		t.Run(plane, func(t *testing.T) {
			f := startFleet(t, 1)
			p, addr := startPlane(t, plane, oneCluster(staticTarget(f.Addrs()...), echoService), proxy.Options{})
			admin := httptest.NewServer(p.AdminHandler())
			defer admin.Close()
			err := dial(t, addr).Invoke(ctxTimeout(t, 5*time.Second), "/not.Routed/Call", &echopb.EchoRequest{}, &echopb.EchoResponse{})
			if status.Code(err) != codes.Unimplemented {
				t.Fatalf("unrouted call: %v", err)
			}
			if err := p.Reload(&proxy.Config{}); err == nil {
				t.Fatal("empty config accepted")
			}
			if err := p.Reload(oneCluster(staticTarget(f.Addrs()...), echoService)); err != nil {
				t.Fatal(err)
			}
			body := get(t, admin.URL+"/metrics")
			for _, want := range []string{
				`grpclb_proxy_config_reloads_total{result="error"} 1`,
				`grpclb_proxy_config_reloads_total{result="ok"} 1`,
				`grpclb_proxy_unrouted_requests_total 1`,
			} {
				if !strings.Contains(body, want) {
					t.Errorf("/metrics lacks %s", want)
				}
			}
		})
	}
}

// TestAccessLog: one JSON record per call with method, route, cluster,
// upstream, code, duration, the bytes of the messages each way (as the
// request and response messages' sizes) and the client's address.
func TestAccessLog(t *testing.T) {
	for _, plane := range dataPlanes {
		t.Run(plane, func(t *testing.T) {
			f := startFleet(t, 1)
			var buf testbed.SyncBuffer
			cfg := oneCluster(staticTarget(f.Addrs()...), echoService)
			addr := startOnWith(t, plane, cfg, proxy.Options{AccessLog: slog.New(slog.NewJSONHandler(&buf, nil))})
			req := &echopb.EchoRequest{Payload: []byte("12345")}
			resp, err := echopb.NewEchoClient(dial(t, addr)).Echo(ctxTimeout(t, 5*time.Second), req)
			if err != nil {
				t.Fatal(err)
			}
			var rec struct {
				Msg, Method, Route, Cluster, Upstream, Code, Client string
				Duration                                            int64
				ReqBytes                                            int64 `json:"req_bytes"`
				RespBytes                                           int64 `json:"resp_bytes"`
			}
			wait.For(t, 5*time.Second, "an access log record", func() bool { return buf.Len() > 0 })
			if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
				t.Fatalf("%v: %s", err, buf.Bytes())
			}
			host, _, err := net.SplitHostPort(rec.Client)
			if rec.Msg != "rpc" || rec.Method != "/grpclb.testbed.v1.Echo/Echo" || rec.Route != echoService || rec.Cluster != "c" ||
				rec.Upstream != f.Addrs()[0] || rec.Code != "OK" || rec.Duration <= 0 || err != nil || host != "127.0.0.1" ||
				rec.ReqBytes != int64(proto.Size(req)) || rec.RespBytes != int64(proto.Size(resp)) {
				t.Errorf("access log record: %s; want %d request bytes, %d response bytes", buf.Bytes(), proto.Size(req), proto.Size(resp))
			}
		})
	}
}

// TestLocalHealthAndReflection: the proxy answers health for itself and
// its routed services, and reflection when configured; a route that
// claims the health service sends health checks upstream instead.
func TestLocalHealthAndReflection(t *testing.T) {
	f := startFleet(t, 1)
	f.Backends()[0].SetServing(false) // the backend's own health says NOT_SERVING
	target := staticTarget(f.Addrs()...)
	ctx := ctxTimeout(t, 10*time.Second)

	t.Run("local", func(t *testing.T) {
		cfg := oneCluster(target, echoService)
		cfg.Reflection = proxy.Reflection{Local: true}
		_, addr := startProxy(t, cfg, proxy.Options{})
		cc := dial(t, addr)
		health := healthpb.NewHealthClient(cc)
		// Health follows the cluster: SERVING once it has a READY endpoint.
		wait.For(t, 10*time.Second, "the proxy SERVING", func() bool {
			r, err := health.Check(ctx, &healthpb.HealthCheckRequest{})
			return err == nil && r.GetStatus() == healthpb.HealthCheckResponse_SERVING
		})
		for _, tc := range []struct {
			service string
			want    healthpb.HealthCheckResponse_ServingStatus
			code    codes.Code
		}{
			{"", healthpb.HealthCheckResponse_SERVING, codes.OK},
			{echoService, healthpb.HealthCheckResponse_SERVING, codes.OK},
			{"not.Routed", 0, codes.NotFound},
		} {
			r, err := health.Check(ctx, &healthpb.HealthCheckRequest{Service: tc.service})
			if status.Code(err) != tc.code || r.GetStatus() != tc.want {
				t.Errorf("Check(%q) = %v, %v; want %v, %v", tc.service, r.GetStatus(), err, tc.want, tc.code)
			}
		}
		names := testbed.ReflectedServices(ctx, t, cc)
		if !slices.Contains(names, "grpc.health.v1.Health") || !slices.Contains(names, "grpc.reflection.v1.ServerReflection") {
			t.Errorf("reflection lists %v", names)
		}
	})

	t.Run("claimed by a route", func(t *testing.T) {
		_, addr := startProxy(t, oneCluster(target, echoService, "grpc.health.v1.Health"), proxy.Options{})
		r, err := healthpb.NewHealthClient(dial(t, addr)).Check(ctx, &healthpb.HealthCheckRequest{})
		if err != nil || r.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
			t.Errorf("Check through the route = %v, %v; want the backend's NOT_SERVING", r.GetStatus(), err)
		}
	})
}

// On both data planes.
func TestHealthzAndReadyz(t *testing.T) {
	for _, plane := range dataPlanes {
		t.Run(plane, func(t *testing.T) {
			_, p, _ := proxiedEchoOn(t, plane, 1)
			admin := httptest.NewServer(p.AdminHandler())
			defer admin.Close()
			if code := httpGet(t, admin.URL+"/healthz"); code != http.StatusOK {
				t.Errorf("/healthz = %d", code)
			}
			// Ready once the cluster has a READY endpoint.
			wait.For(t, 10*time.Second, "/readyz 200", func() bool { return httpGet(t, admin.URL+"/readyz") == http.StatusOK })
			p.Stop()
			if code := httpGet(t, admin.URL+"/readyz"); code != http.StatusServiceUnavailable {
				t.Errorf("/readyz after Stop = %d, want 503", code)
			}
			if code := httpGet(t, admin.URL+"/healthz"); code != http.StatusOK {
				t.Errorf("/healthz after Stop = %d, want 200", code)
			}
		})
	}
}

// fetch GETs url and returns the response's status code and body.
func fetch(t testing.TB, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, string(b)
}

// get is the body of url, which must answer 200.
func get(t testing.TB, url string) string {
	t.Helper()
	code, body := fetch(t, url)
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d", url, code)
	}
	return body
}

// httpGet is the status code of url.
func httpGet(t testing.TB, url string) int {
	t.Helper()
	code, _ := fetch(t, url)
	return code
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
