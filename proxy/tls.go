package proxy

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"sync/atomic"

	"google.golang.org/grpc/credentials"
)

// listenerTLS serves the current certificate: Reload swaps it, so that a
// rotated certificate is picked up by SIGHUP without a restart.
type listenerTLS struct {
	current atomic.Pointer[tls.Config]
}

// creds returns the server credentials, which read the current config at
// each handshake.
func (l *listenerTLS) creds() credentials.TransportCredentials {
	return credentials.NewTLS(&tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return l.current.Load(), nil
		},
	})
}

// loadListenerTLS reads the listener's certificate, key and client CA.
func loadListenerTLS(t *ListenerTLS) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(t.Cert, t.Key)
	if err != nil {
		return nil, fmt.Errorf("tls.cert/tls.key: %w", err)
	}
	cfg := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		NextProtos:   []string{"h2"},
	}
	if t.ClientCA != "" {
		pool, err := loadCAs(t.ClientCA)
		if err != nil {
			return nil, fmt.Errorf("tls.clientCA: %w", err)
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// Config reads the listener's certificate, key and client CA into a TLS
// server config that offers ALPN h2, as gRPC requires.
func (t *ListenerTLS) Config() (*tls.Config, error) { return loadListenerTLS(t) }

// Config reads a cluster's CA and client certificate into a TLS client
// config (ServerName as set, empty for the dialled name). The caller adds
// ALPN h2.
func (t *UpstreamTLS) Config() (*tls.Config, error) {
	cfg, _, err := upstreamTLSConfig(t)
	return cfg, err
}

// loadUpstreamTLS reads a cluster's CA and client certificate. The
// returned bytes are the files' contents, so that a reload notices a
// rotated file even when its path did not change.
func loadUpstreamTLS(t *UpstreamTLS) (credentials.TransportCredentials, []byte, error) {
	cfg, material, err := upstreamTLSConfig(t)
	if err != nil {
		return nil, nil, err
	}
	return credentials.NewTLS(cfg), material, nil
}

func upstreamTLSConfig(t *UpstreamTLS) (*tls.Config, []byte, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName}
	var material []byte
	if t.CA != "" {
		b, err := os.ReadFile(t.CA)
		if err != nil {
			return nil, nil, fmt.Errorf("tls.ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return nil, nil, fmt.Errorf("tls.ca: %s holds no PEM certificate", t.CA)
		}
		cfg.RootCAs = pool
		material = append(material, b...)
	}
	if t.Cert != "" {
		certPEM, err := os.ReadFile(t.Cert)
		if err != nil {
			return nil, nil, fmt.Errorf("tls.cert: %w", err)
		}
		keyPEM, err := os.ReadFile(t.Key)
		if err != nil {
			return nil, nil, fmt.Errorf("tls.key: %w", err)
		}
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, nil, fmt.Errorf("tls.cert/tls.key: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
		material = append(append(material, certPEM...), keyPEM...)
	}
	return cfg, material, nil
}

func loadCAs(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, errors.New(path + " holds no PEM certificate")
	}
	return pool, nil
}

// CheckTLSFiles reads every certificate, key and CA file cfg names, as
// New would, and returns every problem found, each naming its field. It
// is `grpclb proxy --check`'s test of what Validate does not read.
func CheckTLSFiles(cfg *Config) error {
	var errs []error
	if cfg.TLS != nil {
		if _, err := loadListenerTLS(cfg.TLS); err != nil {
			errs = append(errs, err)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(cfg.Clusters)) {
		if cl := cfg.Clusters[name]; cl != nil && cl.TLS != nil {
			if _, _, err := loadUpstreamTLS(cl.TLS); err != nil {
				errs = append(errs, fmt.Errorf("clusters.%s.%w", name, err))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("proxy config: %w", err)
	}
	return nil
}
