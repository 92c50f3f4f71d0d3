package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/resolver"
	"sigs.k8s.io/yaml"

	_ "github.com/grpclb/grpclb/resolver/consul"
	_ "github.com/grpclb/grpclb/resolver/etcd"
	"github.com/grpclb/grpclb/resolver/kube"
	"github.com/grpclb/grpclb/xds"
)

const xdsHelp = `Usage: grpclb xds --config FILE [flags]
       grpclb xds bootstrap --server HOST:PORT [--node-id ID] [--node-zone ZONE]

Runs an xDS control plane (ADS, gRFC A27) that serves grpclb's discovery
to proxyless gRPC clients in any language (grpc-go, grpc-java, C-core for
C++/Python/Ruby, grpc-js with @grpc/grpc-js-xds) and to Envoy. For each
service of the config it runs a grpclb resolver (kubernetes://, consul://,
etcd://, dnspoll://, static:///, dns:///) and serves a Listener, a
RouteConfiguration, an EDS Cluster with the service's policy and the
endpoints the resolver finds. Clients dial xds:///NAME with a bootstrap
naming this server (grpclb xds bootstrap prints one).

The same listener serves grpc.lb.v1.LoadBalancer, the lookaside protocol
xDS replaced (grpc-go's "grpclb" balancer): a client naming a service gets
its backends' IPs and every change.

Endpoint changes reach clients within milliseconds. A resolver error or an
empty update is logged and the last good endpoints are kept. The gRPC
listener also serves grpc.health.v1 (SERVING while running) for probes.
SIGTERM or SIGINT stops it; clients keep the resources they have and
reconnect to another replica.

The config file is YAML or JSON:

  services:
    - name: greeter                       # clients dial xds:///greeter
      target: kubernetes:///greeter.default:grpc
      zoneAware: true                     # the default: a client's own zone first
      minZoneEndpoints: 2                 # fewer in its zone: every zone alike
      outlierDetection:                   # gRFC A50, run by every client
        interval: 10s
        baseEjectionTime: 30s
        failurePercentage: {threshold: 50, requestVolume: 20}
    - name: cart
      target: dnspoll:///cart.internal:50051
      policy: ring_hash                   # round_robin (default), least_request,
      hashHeader: x-user-id               # ring_hash, weighted_round_robin
    - name: search
      target: etcd://etcd:2379/services/search
      subset: {size: 10, clients: 300}    # each client 10 endpoints, each endpoint
                                          # as many clients (±1)

Zones: a client whose bootstrap names its zone (--node-zone below) gets its
zone's endpoints at priority 0 and the others at priority 1 (Kubernetes'
PreferSameZone); if its zone has fewer than minZoneEndpoints (default 1),
every zone at priority 0. Clients fail over to priority 1 themselves when
their zone's endpoints all fail. Zones come from the EndpointSlices
(kubernetes://) and the service's "zone" meta (consul://).

Subsets: each node (bootstrap node ID; give every client its own) takes
the lowest free row of [0, clients) and keeps it while connected and for a
minute after; it gets the endpoints of its row. One endpoint joining or
leaving moves at most ceil(size*clients/endpoints)+1 memberships in all.
The rows live in this process: run one replica for subsetted services.

Examples:
  grpclb xds --config xds.yaml --listen :18000
  grpclb xds --config xds.yaml --check
  grpclb xds --check xds.yaml                               the same
  grpclb xds bootstrap --server xds.internal:18000 --node-zone eu-west-1a > bootstrap.json
  GRPC_XDS_BOOTSTRAP=bootstrap.json ./client --target xds:///greeter

`

const xdsBootstrapHelp = `Usage: grpclb xds bootstrap --server HOST:PORT [--node-id ID] [--node-zone ZONE]

Prints the bootstrap JSON (gRFC A27) a gRPC client needs to follow the
control plane at HOST:PORT: write it to a file named by GRPC_XDS_BOOTSTRAP,
or put it in GRPC_XDS_BOOTSTRAP_CONFIG. The node ID defaults to the host
name (a pod's name); the zone, when given, is the node's locality.

Examples:
  grpclb xds bootstrap --server xds.internal:18000 > /etc/grpc/bootstrap.json
  grpclb xds bootstrap --server 127.0.0.1:18000 --node-id checkout-1 --node-zone eu-west-1a

`

func runXDS(args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "bootstrap" {
		return runXDSBootstrap(args[1:], stdout)
	}
	return xdsCommand(args, stdout, stderr, nil)
}

// xdsCommand runs the control plane until SIGTERM or SIGINT; ready, when
// set, is called with the listener's address once signals are handled.
func xdsCommand(args []string, stdout, stderr io.Writer, ready func(addr string)) error {
	fs := newFlagSet("xds")
	config := fs.String("config", "", "the YAML or JSON config file (required)")
	listen := fs.String("listen", ":18000", "the gRPC listener's host:port (ADS and grpc.health.v1; plain text)")
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig for kubernetes:// targets (default: in-cluster, else $KUBECONFIG or ~/.kube/config)")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	logFormat := fs.String("log-format", "text", "text or json")
	check := fs.Bool("check", false, "check the config file (--config FILE, or --check FILE) and exit: 0 if it would start, 1 with every problem named if not (fields, names, policies, targets' schemes)")
	pos, err := parseFlags(fs, args, stdout, xdsHelp)
	if err != nil {
		return err
	}
	pos = checkFileArg(*check, config, pos)
	if len(pos) > 0 {
		return usagef("xds", "unexpected argument %q (subcommand: bootstrap; the server takes flags only)", pos[0])
	}
	if *config == "" {
		return usagef("xds", "--config is required")
	}
	if *kubeconfig != "" {
		// Replaces the in-cluster builder that resolver/kube registers.
		resolver.Register(kube.NewBuilder(kube.Options{Kubeconfig: *kubeconfig}))
	}
	cfg, err := loadXDSConfig(*config)
	if err != nil {
		return err
	}
	if *check {
		fmt.Fprintf(stdout, "%s: OK: %d services\n", *config, len(cfg.Services))
		return nil
	}
	log, err := newLogger(stderr, *logLevel, *logFormat)
	if err != nil {
		return fmt.Errorf("xds: %w", err)
	}
	srv, err := xds.NewServer(cfg, xds.Options{Logger: log})
	if err != nil {
		return err
	}
	defer srv.Close()
	lis, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("xds: %w", err)
	}
	gs := grpc.NewServer()
	srv.Register(gs)
	hs := health.NewServer()
	healthpb.RegisterHealthServer(gs, hs)

	term := make(chan os.Signal, 1)
	signal.Notify(term, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(term)
	served := make(chan error, 1)
	go func() { served <- gs.Serve(lis) }()
	log.Info("xds: serving", "listen", lis.Addr().String(), "services", len(cfg.Services))
	if ready != nil {
		ready(lis.Addr().String())
	}
	select {
	case sig := <-term:
		log.Info("xds: stopping", "signal", sig.String())
		hs.Shutdown()
		gs.Stop() // ADS streams never end on their own: no graceful wait
		log.Info("xds: stopped")
		return nil
	case err := <-served:
		return fmt.Errorf("xds: %w", err)
	}
}

// loadXDSConfig reads and validates the config file, naming it in errors.
func loadXDSConfig(path string) (xds.Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return xds.Config{}, err
	}
	js, err := yaml.YAMLToJSON(b)
	if err != nil {
		return xds.Config{}, fmt.Errorf("%s: %w", path, err)
	}
	cfg, err := xds.ParseConfig(js)
	if err != nil {
		return xds.Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

func runXDSBootstrap(args []string, stdout io.Writer) error {
	fs := newFlagSet("xds bootstrap")
	server := fs.String("server", "", "the control plane's host:port (required)")
	nodeID := fs.String("node-id", "", "the node ID (default: the host name)")
	zone := fs.String("node-zone", "", "the node's zone (its locality), if known")
	pos, err := parseFlags(fs, args, stdout, xdsBootstrapHelp)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("xds bootstrap", "unexpected argument %q (flags only)", pos[0])
	}
	if *server == "" {
		return usagef("xds bootstrap", "--server is required")
	}
	if *nodeID == "" {
		if *nodeID, err = os.Hostname(); err != nil {
			return fmt.Errorf("xds bootstrap: --node-id not given and no host name: %w", err)
		}
	}
	b, err := xds.Bootstrap(*server, *nodeID, *zone)
	if err != nil {
		return usagef("xds bootstrap", "%v", err)
	}
	_, err = fmt.Fprintf(stdout, "%s\n", b)
	return err
}
