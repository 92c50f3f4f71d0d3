package proxy_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
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
)

// ca is a certificate authority made for one test, writing PEM files in a
// temporary directory.
type ca struct {
	t      testing.TB
	dir    string
	cert   *x509.Certificate
	key    *ecdsa.PrivateKey
	file   string // the CA certificate, PEM
	serial int64
}

func newCA(t testing.TB, name string) *ca {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	c := &ca{t: t, dir: t.TempDir(), cert: cert, key: key, serial: 1}
	c.file = c.write(name+"-ca.pem", "CERTIFICATE", der)
	return c
}

func (c *ca) write(name, kind string, der []byte) string {
	c.t.Helper()
	path := filepath.Join(c.dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
		c.t.Fatal(err)
	}
	return path
}

// issue writes a certificate for name (a DNS name, plus 127.0.0.1) and its
// key, usable by servers and clients, and returns the files.
func (c *ca) issue(name string) (certFile, keyFile string) {
	c.t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		c.t.Fatal(err)
	}
	c.serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(c.serial),
		Subject:      pkix.Name{CommonName: name},
		DNSNames:     []string{name},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, &key.PublicKey, c.key)
	if err != nil {
		c.t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		c.t.Fatal(err)
	}
	return c.write(name+".pem", "CERTIFICATE", der), c.write(name+"-key.pem", "PRIVATE KEY", kder)
}

func (c *ca) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(c.cert)
	return p
}

// clientTLS is client credentials trusting c, with a client certificate
// if certFile is set.
func clientTLS(t testing.TB, c *ca, serverName, certFile, keyFile string) grpc.DialOption {
	t.Helper()
	cfg := &tls.Config{RootCAs: c.pool(), ServerName: serverName}
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return grpc.WithTransportCredentials(credentials.NewTLS(cfg))
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
	pki, other := newCA(t, "pki"), newCA(t, "other")
	serverCert, serverKey := pki.issue("proxy.test")
	clientCert, clientKey := pki.issue("client.test")
	strangerCert, strangerKey := other.issue("stranger.test")
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
		{"mTLS", pki.file, clientTLS(t, pki, "proxy.test", clientCert, clientKey), codes.OK},
		{"mTLS, no client certificate", pki.file, clientTLS(t, pki, "proxy.test", "", ""), codes.Unavailable},
		{"mTLS, client certificate of another CA", pki.file, clientTLS(t, pki, "proxy.test", strangerCert, strangerKey), codes.Unavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := oneCluster(staticTarget(f.Addrs()...), echoService)
			cfg.TLS = &proxy.ListenerTLS{Cert: serverCert, Key: serverKey, ClientCA: tc.clientCA}
			_, addr := startProxy(t, cfg, proxy.Options{})
			if got := callStatus(t, addr, tc.creds); got != tc.want {
				t.Errorf("call: %v, want %v", got, tc.want)
			}
		})
	}
}

// TestUpstreamMutualTLS runs the interop cases through a proxy with TLS on
// both sides: clients → proxy (mTLS), proxy → upstream (mTLS with the
// proxy's client certificate and a server name).
func TestUpstreamMutualTLS(t *testing.T) {
	pki := newCA(t, "pki")
	proxyCert, proxyKey := pki.issue("proxy.test")
	backendCert, backendKey := pki.issue("backend.test")
	upstreamClientCert, upstreamClientKey := pki.issue("proxy-client.test")
	clientCert, clientKey := pki.issue("client.test")

	bc, err := tls.LoadX509KeyPair(backendCert, backendKey)
	if err != nil {
		t.Fatal(err)
	}
	backend := startInterop(t, grpc.Creds(credentials.NewTLS(&tls.Config{
		Certificates: []tls.Certificate{bc}, ClientCAs: pki.pool(), ClientAuth: tls.RequireAndVerifyClientCert,
	})))
	cfg := oneCluster("passthrough:///"+backend, "grpc.testing.TestService", "grpc.testing.UnimplementedService")
	cfg.TLS = &proxy.ListenerTLS{Cert: proxyCert, Key: proxyKey, ClientCA: pki.file}
	cfg.Clusters["c"].TLS = &proxy.UpstreamTLS{CA: pki.file, Cert: upstreamClientCert, Key: upstreamClientKey, ServerName: "backend.test"}
	_, addr := startProxy(t, cfg, proxy.Options{})
	interoptest.Run(t, func(tb testing.TB) *grpc.ClientConn {
		return dial(tb, addr, clientTLS(tb, pki, "proxy.test", clientCert, clientKey))
	})

	t.Run("upstream refuses a proxy without a client certificate", func(t *testing.T) {
		cfg := oneCluster("passthrough:///"+backend, echoService)
		cfg.Clusters["c"].TLS = &proxy.UpstreamTLS{CA: pki.file, ServerName: "backend.test"}
		_, addr := startProxy(t, cfg, proxy.Options{})
		if got := callStatus(t, addr, grpc.WithTransportCredentials(insecure.NewCredentials())); got != codes.Unavailable {
			t.Errorf("call: %v, want UNAVAILABLE", got)
		}
	})
}

// TestReloadRotatesListenerCertificate: after the certificate files are
// replaced, Reload makes new connections get the new certificate.
func TestReloadRotatesListenerCertificate(t *testing.T) {
	pki := newCA(t, "pki")
	certFile, keyFile := pki.issue("proxy.test")
	f := startFleet(t, 1)
	cfg := oneCluster(staticTarget(f.Addrs()...), echoService)
	cfg.TLS = &proxy.ListenerTLS{Cert: certFile, Key: keyFile}
	p, addr := startProxy(t, cfg, proxy.Options{})

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
	newCert, newKey := pki.issue("proxy.test") // overwrites the files
	if newCert != certFile || newKey != keyFile {
		t.Fatal("issue did not overwrite the files")
	}
	if err := p.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	if second := serial(); second == first {
		t.Errorf("after the reload the proxy still presents certificate %d", first)
	}
}
