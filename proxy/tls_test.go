package proxy_test

import (
	"crypto/tls"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/grpclb/grpclb/internal/testbed/echopb"
	"github.com/grpclb/grpclb/proxy"
	"github.com/grpclb/grpclb/proxy/internal/interoptest"
	"github.com/grpclb/grpclb/proxy/internal/testca"
)

// clientTLS is client credentials trusting c, with a client certificate
// if certFile is set.
func clientTLS(t testing.TB, c *testca.CA, serverName, certFile, keyFile string) grpc.DialOption {
	t.Helper()
	return grpc.WithTransportCredentials(credentials.NewTLS(c.ClientConfig(serverName, certFile, keyFile)))
}

// callStatus makes one Echo call through a fresh connection with creds.
func callStatus(t *testing.T, addr string, creds grpc.DialOption) codes.Code {
	t.Helper()
	cc, err := grpc.NewClient("passthrough:///"+addr, creds)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	_, err = echopb.NewEchoClient(cc).Echo(ctxTimeout(t, 10*time.Second), &echopb.EchoRequest{})
	return status.Code(err)
}

func TestListenerTLS(t *testing.T) {
	pki, other := testca.New(t, "pki"), testca.New(t, "other")
	serverCert, serverKey := pki.Issue("proxy.test")
	clientCert, clientKey := pki.Issue("client.test")
	strangerCert, strangerKey := other.Issue("stranger.test")
	f := startFleet(t, 1)

	for _, tc := range []struct {
		name     string
		clientCA string // mutual TLS when set
		creds    grpc.DialOption
		want     codes.Code
	}{
		{"TLS", "", clientTLS(t, pki, "proxy.test", "", ""), codes.OK},
		{"TLS, plaintext client", "", grpc.WithTransportCredentials(insecure.NewCredentials()), codes.Unavailable},
		{"TLS, client trusts another CA", "", clientTLS(t, other, "proxy.test", "", ""), codes.Unavailable},
		{"TLS, wrong server name", "", clientTLS(t, pki, "elsewhere.test", "", ""), codes.Unavailable},
		{"mTLS", pki.File, clientTLS(t, pki, "proxy.test", clientCert, clientKey), codes.OK},
		{"mTLS, no client certificate", pki.File, clientTLS(t, pki, "proxy.test", "", ""), codes.Unavailable},
		{"mTLS, client certificate of another CA", pki.File, clientTLS(t, pki, "proxy.test", strangerCert, strangerKey), codes.Unavailable},
	} {
		for _, plane := range dataPlanes {
			t.Run(plane+"/"+tc.name, func(t *testing.T) {
				cfg := oneCluster(staticTarget(f.Addrs()...), echoService)
				cfg.TLS = &proxy.ListenerTLS{Cert: serverCert, Key: serverKey, ClientCA: tc.clientCA}
				if got := callStatus(t, startOn(t, plane, cfg), tc.creds); got != tc.want {
					t.Errorf("call: %v, want %v", got, tc.want)
				}
			})
		}
	}
}

// TestUpstreamMutualTLS runs the interop cases through a proxy with TLS on
// both sides: clients → proxy (mTLS), proxy → upstream (mTLS with the
// proxy's client certificate and a server name). On both data planes.
func TestUpstreamMutualTLS(t *testing.T) {
	for _, plane := range dataPlanes {
		t.Run(plane, func(t *testing.T) { testUpstreamMutualTLS(t, plane) })
	}
}

func testUpstreamMutualTLS(t *testing.T, plane string) {
	pki := testca.New(t, "pki")
	proxyCert, proxyKey := pki.Issue("proxy.test")
	backendCert, backendKey := pki.Issue("backend.test")
	upstreamClientCert, upstreamClientKey := pki.Issue("proxy-client.test")
	clientCert, clientKey := pki.Issue("client.test")

	bc, err := tls.LoadX509KeyPair(backendCert, backendKey)
	if err != nil {
		t.Fatal(err)
	}
	backend := startInterop(t, grpc.Creds(credentials.NewTLS(&tls.Config{
		Certificates: []tls.Certificate{bc}, ClientCAs: pki.Pool(), ClientAuth: tls.RequireAndVerifyClientCert,
	})))
	cfg := oneCluster("passthrough:///"+backend, "grpc.testing.TestService", "grpc.testing.UnimplementedService")
	cfg.TLS = &proxy.ListenerTLS{Cert: proxyCert, Key: proxyKey, ClientCA: pki.File}
	cfg.Clusters["c"].TLS = &proxy.UpstreamTLS{CA: pki.File, Cert: upstreamClientCert, Key: upstreamClientKey, ServerName: "backend.test"}
	addr := startOn(t, plane, cfg)
	interoptest.Run(t, func(tb testing.TB) *grpc.ClientConn {
		return dial(tb, addr, clientTLS(tb, pki, "proxy.test", clientCert, clientKey))
	})

	t.Run("upstream refuses a proxy without a client certificate", func(t *testing.T) {
		cfg := oneCluster("passthrough:///"+backend, echoService)
		cfg.Clusters["c"].TLS = &proxy.UpstreamTLS{CA: pki.File, ServerName: "backend.test"}
		if got := callStatus(t, startOn(t, plane, cfg), grpc.WithTransportCredentials(insecure.NewCredentials())); got != codes.Unavailable {
			t.Errorf("call: %v, want UNAVAILABLE", got)
		}
	})
}

// TestReloadRotatesListenerCertificate: after the certificate files are
// replaced, Reload makes new connections get the new certificate.
func TestReloadRotatesListenerCertificate(t *testing.T) {
	for _, plane := range dataPlanes {
		t.Run(plane, func(t *testing.T) {
			pki := testca.New(t, "pki")
			certFile, keyFile := pki.Issue("proxy.test")
			f := startFleet(t, 1)
			cfg := oneCluster(staticTarget(f.Addrs()...), echoService)
			cfg.TLS = &proxy.ListenerTLS{Cert: certFile, Key: keyFile}
			p, addr := startPlane(t, plane, cfg, proxy.Options{})

			serial := func() int64 {
				t.Helper()
				cc := dial(t, addr, clientTLS(t, pki, "proxy.test", "", ""))
				var pr peer.Peer
				if _, err := echopb.NewEchoClient(cc).Echo(ctxTimeout(t, 10*time.Second), &echopb.EchoRequest{}, grpc.Peer(&pr)); err != nil {
					t.Fatal(err)
				}
				cc.Close()
				return pr.AuthInfo.(credentials.TLSInfo).State.PeerCertificates[0].SerialNumber.Int64()
			}
			first := serial()
			newCert, newKey := pki.Issue("proxy.test") // overwrites the files
			if newCert != certFile || newKey != keyFile {
				t.Fatal("issue did not overwrite the files")
			}
			if err := p.Reload(cfg); err != nil {
				t.Fatal(err)
			}
			if second := serial(); second == first {
				t.Errorf("after the reload the proxy still presents certificate %d", first)
			}
		})
	}
}
