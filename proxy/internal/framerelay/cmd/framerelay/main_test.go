package main

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/grpclb/grpclb/internal/testbed"
	"github.com/grpclb/grpclb/internal/testbed/echopb"
	"github.com/grpclb/grpclb/internal/wait"
	"github.com/grpclb/grpclb/proxy"
	"github.com/grpclb/grpclb/proxy/internal/framerelay"
	"github.com/grpclb/grpclb/proxy/internal/testca"
)

const base = `
listen: 127.0.0.1:0
routes:
  - service: a.Svc
    cluster: one
  - prefix: /b.Svc/Get
    cluster: two
clusters:
  one:
    target: static:///127.0.0.1:1
  two:
    target: static:///127.0.0.1:2
    policy: p2c_ewma
`

func TestRelayConfig(t *testing.T) {
	for _, tc := range []struct {
		name, extra string
		wantErr     string
		wantIgnored []string
	}{
		{name: "routes and clusters"},
		{name: "ignored settings", extra: "admin: 127.0.0.1:9901\nlimits: {maxConcurrentStreams: 10, maxRequestBytes: 1024}\ndrain: {grace: 1s}\n",
			wantIgnored: []string{"admin", "limits.maxRequestBytes"}},
		{name: "listener TLS files missing", extra: "tls: {cert: nosuch.pem, key: nosuch-key.pem}\n", wantErr: "tls.cert/tls.key"},
		{name: "reflection", extra: "reflection: true\n", wantErr: "not implemented in the relay: reflection"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := proxy.ParseConfig([]byte(base + tc.extra))
			if err != nil {
				t.Fatal(err)
			}
			rc, _, ignored, err := relayConfig(cfg)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(ignored, tc.wantIgnored) {
				t.Errorf("ignored %v, want %v", ignored, tc.wantIgnored)
			}
			wantRoutes := []framerelay.Route{{Prefix: "/a.Svc/", Cluster: "one"}, {Prefix: "/b.Svc/Get", Cluster: "two"}}
			if !slices.Equal(rc.Routes, wantRoutes) {
				t.Errorf("routes %v, want %v", rc.Routes, wantRoutes)
			}
			want := map[string]framerelay.Cluster{
				"one": {Target: "static:///127.0.0.1:1", LBConfig: `[{"round_robin":{}}]`},
				"two": {Target: "static:///127.0.0.1:2", LBConfig: `[{"p2c_ewma":{}}]`},
			}
			for name, cl := range want {
				if rc.Clusters[name] != cl {
					t.Errorf("clusters.%s = %+v, want %+v", name, rc.Clusters[name], cl)
				}
			}
		})
	}
}

func TestRelayConfigLimits(t *testing.T) {
	cfg, err := proxy.ParseConfig([]byte(base + `
limits: {maxConcurrentStreams: 10, maxHeaderListBytes: 2048}
connections: {max: 3, idleTimeout: 1m, handshakeTimeout: 2s}
`))
	if err != nil {
		t.Fatal(err)
	}
	rc, _, ignored, err := relayConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := framerelay.Limits{MaxConcurrentStreams: 10, MaxHeaderListBytes: 2048, MaxConnections: 3, IdleTimeout: time.Minute, HandshakeTimeout: 2 * time.Second}
	if rc.Limits != want || len(ignored) != 0 {
		t.Fatalf("limits %+v (ignored %v), want %+v", rc.Limits, ignored, want)
	}
}

func TestRelayConfigRefusesRouteResilience(t *testing.T) {
	cfg, err := proxy.ParseConfig([]byte(strings.Replace(base, "    cluster: one\n", "    cluster: one\n    timeout: 1s\n", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := relayConfig(cfg); err == nil || !strings.Contains(err.Error(), "routes[0]: timeout") {
		t.Fatalf("a route timeout: %v, want it refused naming routes[0]", err)
	}
}

func TestRelayConfigRefusesServiceConfigExtras(t *testing.T) {
	cfg, err := proxy.ParseConfig([]byte(strings.Replace(base, "policy: p2c_ewma",
		`policy: '{"loadBalancingConfig":[{"round_robin":{}}],"methodConfig":[]}'`, 1)))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := relayConfig(cfg); err == nil || !strings.Contains(err.Error(), "clusters.two.policy") {
		t.Fatalf("a service config with methodConfig: %v, want it refused naming clusters.two.policy", err)
	}
}

// TestMutualTLSBothSides: with tls: on the listener (client certificates
// required) and on the cluster (the relay's own client certificate), a
// client with a certificate reaches the backend through the relay, and
// one without is refused.
func TestMutualTLSBothSides(t *testing.T) {
	pki := testca.New(t, "pki")
	relayCert, relayKey := pki.Issue("relay.test")
	backendCert, backendKey := pki.Issue("backend.test")
	upstreamCert, upstreamKey := pki.Issue("relay-client.test")
	clientCert, clientKey := pki.Issue("client.test")
	bc, err := tls.LoadX509KeyPair(backendCert, backendKey)
	if err != nil {
		t.Fatal(err)
	}
	backend, err := testbed.StartBackend("tls-backend", "127.0.0.1:0", grpc.Creds(credentials.NewTLS(&tls.Config{
		Certificates: []tls.Certificate{bc}, ClientCAs: pki.Pool(), ClientAuth: tls.RequireAndVerifyClientCert,
	})))
	if err != nil {
		t.Fatal(err)
	}
	defer backend.Stop()
	cfg, err := proxy.ParseConfig([]byte(fmt.Sprintf(`
listen: 127.0.0.1:0
tls: {cert: %s, key: %s, clientCA: %s}
routes:
  - service: grpclb.testbed.v1.Echo
    cluster: c
clusters:
  c:
    target: static:///%s
    tls: {ca: %s, cert: %s, key: %s, serverName: backend.test}
`, relayCert, relayKey, pki.File, backend.Addr, pki.File, upstreamCert, upstreamKey)))
	if err != nil {
		t.Fatal(err)
	}
	r, lis, err := start(cfg, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	go r.Serve(lis)
	defer r.Close()
	call := func(certFile, keyFile string) (string, error) {
		cc, err := grpc.NewClient("passthrough:///"+lis.Addr().String(),
			grpc.WithTransportCredentials(credentials.NewTLS(pki.ClientConfig("relay.test", certFile, keyFile))))
		if err != nil {
			t.Fatal(err)
		}
		defer cc.Close()
		resp, err := echopb.NewEchoClient(cc).Echo(testbed.Context(t, 10*time.Second), &echopb.EchoRequest{})
		return resp.GetBackend(), err
	}
	if b, err := call(clientCert, clientKey); err != nil || b != "tls-backend" {
		t.Fatalf("a client with a certificate: %v from %q, want an answer from tls-backend", err, b)
	}
	if _, err := call("", ""); status.Code(err) != codes.Unavailable {
		t.Fatalf("a client without a certificate: %v, want Unavailable (handshake refused)", err)
	}
}

func TestDrainTimes(t *testing.T) {
	for _, tc := range []struct {
		in                   proxy.DrainConfig
		wantGrace, wantTimeo time.Duration
	}{
		{proxy.DrainConfig{}, proxy.DefaultDrainGrace, proxy.DefaultDrainTimeout},
		{proxy.DrainConfig{Grace: proxy.Duration(-time.Second), Timeout: proxy.Duration(time.Second)}, 0, time.Second},
		{proxy.DrainConfig{Grace: proxy.Duration(2 * time.Second)}, 2 * time.Second, proxy.DefaultDrainTimeout},
	} {
		if g, to := drainTimes(tc.in); g != tc.wantGrace || to != tc.wantTimeo {
			t.Errorf("drainTimes(%+v) = %v, %v; want %v, %v", tc.in, g, to, tc.wantGrace, tc.wantTimeo)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestSIGTERMDrains: on SIGTERM the command drains: the call in flight
// goes on, and the command returns once it has ended.
func TestSIGTERMDrains(t *testing.T) {
	f, err := testbed.StartFleet(1, testbed.FleetConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	path := filepath.Join(t.TempDir(), "proxy.yaml")
	cfg := fmt.Sprintf(`
listen: 127.0.0.1:0
drain: {grace: -1s, timeout: 20s}
routes:
  - service: grpclb.testbed.v1.Echo
    cluster: c
clusters:
  c:
    target: static:///%s
`, f.Addrs()[0])
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	var stderr syncBuffer
	ran := make(chan error, 1)
	go func() { ran <- run(path, &stderr) }()
	var addr string
	wait.For(t, 10*time.Second, "the serving line", func() bool {
		_, rest, ok := strings.Cut(stderr.String(), "framerelay: serving on ")
		addr, _, _ = strings.Cut(rest, "\n")
		return ok && strings.Contains(rest, "\n")
	})
	cc, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	s, err := echopb.NewEchoClient(cc).EchoStream(testbed.Context(t, 30*time.Second))
	if err == nil {
		err = s.Send(&echopb.EchoRequest{})
	}
	if err == nil {
		_, err = s.Recv()
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	wait.For(t, 10*time.Second, "the draining line", func() bool { return strings.Contains(stderr.String(), "framerelay: draining") })
	if err := s.Send(&echopb.EchoRequest{}); err != nil {
		t.Fatalf("the call in flight, draining: %v", err)
	}
	if _, err := s.Recv(); err != nil {
		t.Fatalf("the call in flight, draining: %v", err)
	}
	select {
	case err := <-ran:
		t.Fatalf("the command returned (%v) with a call in flight", err)
	default:
	}
	s.CloseSend()
	if _, err := s.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("the call in flight ended with %v", err)
	}
	select {
	case err := <-ran:
		if err != nil {
			t.Fatalf("run after SIGTERM: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the command did not return within 10 s of its last call ending")
	}
}
