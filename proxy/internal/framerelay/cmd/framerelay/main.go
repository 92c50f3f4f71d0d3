// Command framerelay runs the framerelay experiment (a frame-level data
// plane for grpclb proxy) on a grpclb proxy config file, so that it can be
// measured in grpclb proxy's place:
//
//	go build -o /tmp/framerelay ./proxy/internal/framerelay/cmd/framerelay
//	/tmp/framerelay proxy.yaml
//	GRPCLB_FRAMERELAY=/tmp/framerelay go run ./cmd/grpclb lab --scenario proxy
//
// It serves the config's listen address (h2c, or TLS and mutual TLS as
// tls: says), routes and clusters: each cluster's target (any resolver
// linked in: dns, dnspoll, static), policy (grpc-go's, p2c_ewma,
// consistent_hash, wrr) and TLS to its backends, with the config's limits;
// SIGTERM or SIGINT drains it as drain: says. It refuses a config that
// needs what the relay does not do yet (route timeouts, retries, hedging,
// reflection) and says on stderr which other settings it ignores.
package main

import (
	"cmp"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	_ "github.com/grpclb/grpclb/balancer/chash" // consistent_hash
	_ "github.com/grpclb/grpclb/balancer/p2c"   // p2c_ewma
	_ "github.com/grpclb/grpclb/balancer/wrr"   // wrr
	"github.com/grpclb/grpclb/proxy"
	"github.com/grpclb/grpclb/proxy/internal/framerelay"
	_ "github.com/grpclb/grpclb/resolver/dnspoll" // dnspoll:/// targets
	_ "github.com/grpclb/grpclb/resolver/static"  // static:/// targets
)

const usage = `usage: framerelay CONFIG

Relays the gRPC calls of a grpclb proxy config (CONFIG, YAML) at the
HTTP/2 frame level: its listen address (h2c), routes and clusters.
See the package documentation for what it refuses and ignores.
`

func main() {
	args := os.Args[1:]
	if len(args) == 1 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
		fmt.Print(usage)
		return
	}
	if len(args) != 1 || strings.HasPrefix(args[0], "-") {
		fmt.Fprintf(os.Stderr, "framerelay: want one argument, a grpclb proxy config file, got %q (see 'framerelay --help')\n", args)
		os.Exit(2)
	}
	if err := run(args[0], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "framerelay:", err)
		os.Exit(1)
	}
}

func run(path string, stderr io.Writer) error {
	cfg, err := proxy.LoadConfig(path)
	if err != nil {
		return err
	}
	r, lis, err := start(cfg, stderr)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	term := make(chan os.Signal, 1)
	signal.Notify(term, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(term)
	served := make(chan error, 1)
	go func() { served <- r.Serve(lis) }()
	fmt.Fprintf(stderr, "framerelay: serving on %s\n", lis.Addr())
	select {
	case err := <-served:
		r.Close()
		return err
	case <-term:
	}
	grace, timeout := drainTimes(cfg.Drain)
	fmt.Fprintf(stderr, "framerelay: draining: NOT_SERVING for %v, then at most %v for the calls in flight\n", grace, timeout)
	ctx, cancel := context.WithTimeout(context.Background(), grace+timeout)
	defer cancel()
	if err := r.Drain(ctx, grace); err != nil {
		return fmt.Errorf("drain: calls still in flight after %v were cut: %w", timeout, err)
	}
	return nil
}

// drainTimes are the drain's grace and timeout, defaults applied (a
// negative grace is none).
func drainTimes(d proxy.DrainConfig) (grace, timeout time.Duration) {
	grace, timeout = time.Duration(d.Grace), time.Duration(d.Timeout)
	switch {
	case grace == 0:
		grace = proxy.DefaultDrainGrace
	case grace < 0:
		grace = 0
	}
	if timeout == 0 {
		timeout = proxy.DefaultDrainTimeout
	}
	return grace, timeout
}

// start builds the relay of cfg and its listener.
func start(cfg *proxy.Config, stderr io.Writer) (*framerelay.Relay, net.Listener, error) {
	rc, ltls, ignored, err := relayConfig(cfg)
	if err != nil {
		return nil, nil, err
	}
	for _, what := range ignored {
		fmt.Fprintf(stderr, "framerelay: ignoring %s (not implemented in the relay)\n", what)
	}
	r, err := framerelay.NewRouted(rc)
	if err != nil {
		return nil, nil, err
	}
	lis, err := net.Listen("tcp", cmp.Or(cfg.Listen, proxy.DefaultListen))
	if err != nil {
		r.Close()
		return nil, nil, err
	}
	if ltls != nil {
		lis = tls.NewListener(lis, ltls)
	}
	return r, lis, nil
}

// relayConfig is the relay's config for a valid proxy config, with its
// certificate files read, and the listener's TLS config (nil for h2c):
// an error names the settings the relay cannot honour; ignored lists
// those it does not apply.
func relayConfig(cfg *proxy.Config) (rc framerelay.Config, listenerTLS *tls.Config, ignored []string, err error) {
	rc = framerelay.Config{Clusters: map[string]framerelay.Cluster{}}
	if cfg.TLS != nil {
		if listenerTLS, err = cfg.TLS.Config(); err != nil {
			return rc, nil, nil, err
		}
	}
	var unsupported []string
	if cfg.Reflection != (proxy.Reflection{}) {
		unsupported = append(unsupported, "reflection")
	}
	for i, r := range cfg.Routes {
		if r.Timeout != 0 || r.Idempotent || r.Retry != nil || r.Hedge != nil {
			unsupported = append(unsupported, fmt.Sprintf("routes[%d]: timeout, idempotent, retry and hedge", i))
		}
		rc.Routes = append(rc.Routes, framerelay.Route{Prefix: r.MethodPrefix(), Cluster: r.Cluster})
	}
	for name, cl := range cfg.Clusters {
		lb, err := lbConfig(cl.Policy)
		if err != nil {
			return rc, nil, nil, fmt.Errorf("clusters.%s.policy: %w", name, err)
		}
		rcl := framerelay.Cluster{Target: cl.Target, LBConfig: lb}
		if cl.TLS != nil {
			if rcl.TLS, err = cl.TLS.Config(); err != nil {
				return rc, nil, nil, fmt.Errorf("clusters.%s.%w", name, err)
			}
		}
		rc.Clusters[name] = rcl
	}
	if len(unsupported) > 0 {
		return rc, nil, nil, fmt.Errorf("not implemented in the relay: %s", strings.Join(unsupported, "; "))
	}
	rc.Limits = framerelay.Limits{
		MaxConcurrentStreams: cfg.Limits.MaxConcurrentStreams,
		MaxHeaderListBytes:   cfg.Limits.MaxHeaderListBytes,
		MaxConnections:       cfg.Connections.Max,
		IdleTimeout:          time.Duration(cfg.Connections.IdleTimeout),
		HandshakeTimeout:     time.Duration(cfg.Connections.HandshakeTimeout),
	}
	for _, s := range []struct {
		name string
		set  bool
	}{
		{"admin", cfg.Admin != ""},
		{"limits.maxRequestBytes", cfg.Limits.MaxRequestBytes != 0},
		{"limits.maxResponseBytes", cfg.Limits.MaxResponseBytes != 0},
		{"limits.maxBufferedBytes (each client connection holds at most 16 MiB, its window)", cfg.Limits.MaxBufferedBytes != 0},
		{"connections.maxAge", cfg.Connections.MaxAge != 0},
		{"connections.maxAgeGrace", cfg.Connections.MaxAgeGrace != 0},
	} {
		if s.set {
			ignored = append(ignored, s.name)
		}
	}
	return rc, listenerTLS, ignored, nil
}

// lbConfig is the loadBalancingConfig list of a cluster's policy; a
// service config with anything else in it is refused.
func lbConfig(p proxy.Policy) (string, error) {
	sc, err := p.ServiceConfig()
	if err != nil {
		return "", err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal([]byte(sc), &fields); err != nil {
		return "", err
	}
	list, ok := fields["loadBalancingConfig"]
	if !ok || len(fields) != 1 {
		return "", errors.New("the relay reads only a service config's loadBalancingConfig")
	}
	return string(list), nil
}
