package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	_ "github.com/grpclb/grpclb/balancer/chash"
	_ "github.com/grpclb/grpclb/balancer/p2c"
	_ "github.com/grpclb/grpclb/balancer/pool"
	"github.com/grpclb/grpclb/proxy"
	_ "github.com/grpclb/grpclb/resolver/consul"
	_ "github.com/grpclb/grpclb/resolver/dnspoll"
	_ "github.com/grpclb/grpclb/resolver/etcd"
	"github.com/grpclb/grpclb/resolver/kube"
	_ "github.com/grpclb/grpclb/resolver/static"
)

const proxyHelp = `Usage: grpclb proxy --config FILE [flags]

Runs an L7 gRPC proxy. Clients that cannot balance themselves connect to
one address; the proxy sends each call (not each connection) to a backend
that the route's cluster picks with its balancing policy, so even one
client connection reaches every backend. Messages are forwarded as raw
frames; metadata, trailers, status details, deadlines and cancellation
cross it unchanged. Services no route names get UNIMPLEMENTED.

Data planes (--data-plane): "frames", the default, relays each call's
HTTP/2 frames between the client's connection and a backend's, with flow
control end to end; "grpc" runs a grpc-go server stream and client stream
per call, for about 2.5 times the CPU. Both take the same config; "grpc"
also applies a policy's whole service config (methodConfig), which
"frames" refuses.

Signals:
  SIGTERM, SIGINT  drain: health NOT_SERVING and /readyz 503, the grace,
                   then calls in flight finish (bounded by drain.timeout);
                   a second signal stops at once
  SIGHUP           re-read the config file: routes and clusters are swapped
                   without failing a call; a bad file is logged and the
                   running config kept

The config file is also polled every --watch-interval (default 2s; 0 turns
it off) and reloaded the same way when its content changes: an edit, a
rename over it, or a Kubernetes ConfigMap update (mount the ConfigMap as a
directory; a subPath mount never sees updates). A bad file is logged once
and the running config kept; an unchanged file, even touched, does nothing.

Health follows the clusters: a routed service is SERVING (grpc.health.v1)
while a cluster of its routes has a READY endpoint; the proxy as a whole
(service "" and /readyz) while some cluster has one. A call that finds no
healthy endpoint gets UNAVAILABLE "no healthy upstream for cluster X"; the
reason goes to the log and to /clusters.

The Go garbage collector runs at GOGC=400 unless GOGC is set: the proxy's
live heap is small, and collecting less often buys about a fifth of its CPU.
GOMEMLIMIT is 2 × limits.maxBufferedBytes + 256 MiB (768 MiB by default)
unless GOMEMLIMIT is set.

Resource bounds (config limits and connections; defaults): message bytes
held, both ways, 256 MiB (beyond it the proxy stops reading the
connections that send more, so flow control pushes back on their senders);
5000 client connections (more are closed at once); idle connections closed
after 1h; handshakes bounded by 10s; 1000 concurrent streams a connection;
4 MiB messages.

Examples:
  grpclb proxy --config proxy.yaml
  grpclb proxy --config proxy.yaml --listen :8443 --admin 127.0.0.1:9090
  grpclb proxy --config proxy.yaml --log-level debug --log-format json
  grpclb proxy --config proxy.yaml --access-log=false     fastest
  curl -s 127.0.0.1:9090/metrics | grep grpclb_proxy_requests_total
  curl -s 127.0.0.1:9090/clusters                          state and health of every cluster
  kill -HUP "$(pidof grpclb)"                              reload
  grpclb proxy --config proxy.yaml --watch-interval 0      reload on SIGHUP only
  grpclb proxy --config proxy.yaml --check                 validate, then exit 0 or 1
  grpclb proxy --check proxy.yaml                          the same

Example config (every field; only routes and clusters are required):

%s

`

// proxyGCPercent is the proxy's GOGC unless the environment sets one.
const proxyGCPercent = 400

func runProxy(args []string, stdout, stderr io.Writer) error {
	return proxyCommand(args, stdout, stderr, nil)
}

// proxyFlags are the command's settings.
type proxyFlags struct {
	config, listen, admin, kubeconfig string
	dataPlane                         string
	logLevel, logFormat               string
	accessLog, check, pprof           bool
	watchInterval                     time.Duration
}

// proxyCommand runs the proxy until SIGTERM or SIGINT; ready, when set, is
// called with the listeners' addresses once signals are handled.
func proxyCommand(args []string, stdout, stderr io.Writer, ready func(grpcAddr, adminAddr string)) error {
	var f proxyFlags
	fs := newFlagSet("proxy")
	fs.StringVar(&f.config, "config", "", "the YAML config file (required)")
	fs.StringVar(&f.listen, "listen", "", "the gRPC listener's host:port, overriding the config's listen")
	fs.StringVar(&f.admin, "admin", "", `the admin HTTP listener's host:port (/metrics, /healthz, /readyz, /clusters, /config; plain HTTP, keep it on loopback), overriding the config's admin; "off" for none`)
	fs.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig for kubernetes:// targets (default: in-cluster, else $KUBECONFIG or ~/.kube/config)")
	fs.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&f.logFormat, "log-format", "text", "text or json")
	fs.BoolVar(&f.accessLog, "access-log", true, "log every call at info level (method, route, cluster, upstream, code, duration, bytes)")
	fs.BoolVar(&f.pprof, "pprof", false, "serve Go's profiler at /debug/pprof/ on the admin listener")
	fs.BoolVar(&f.check, "check", false, "check the config file (--config FILE, or --check FILE) and exit: 0 if it would start, 1 with every problem named if not (fields, routes, policies, targets, certificate files); nothing is listened on or dialled")
	fs.StringVar(&f.dataPlane, "data-plane", "frames", `"frames" (each call's HTTP/2 frames relayed: HAProxy's speed for under half the CPU of grpc; see proxy.Frames) or "grpc" (a grpc-go server and client stream per call; also takes a policy's whole service config, methodConfig included)`)
	fs.DurationVar(&f.watchInterval, "watch-interval", defaultWatchInterval, "poll the config file this often and reload it when its content changes (symlinks followed, as in a ConfigMap volume); 0 for SIGHUP only")
	pos, err := parseFlags(fs, args, stdout, fmt.Sprintf(proxyHelp, strings.TrimRight(proxy.ExampleConfig, "\n")))
	if err != nil {
		return err
	}
	pos = checkFileArg(f.check, &f.config, pos)
	if len(pos) > 0 {
		return usagef("proxy", "unexpected argument %q (the proxy takes flags only)", pos[0])
	}
	if f.config == "" {
		return usagef("proxy", "--config is required")
	}
	if f.watchInterval < 0 {
		return usagef("proxy", "--watch-interval %v: want 0 (off) or more", f.watchInterval)
	}
	if f.dataPlane != "grpc" && f.dataPlane != "frames" {
		return usagef("proxy", "--data-plane %q: want grpc or frames", f.dataPlane)
	}
	if f.check {
		return f.checkConfig(stdout)
	}
	log, err := newLogger(stderr, f.logLevel, f.logFormat)
	if err != nil {
		return fmt.Errorf("proxy: %w", err)
	}
	if _, set := os.LookupEnv("GOGC"); !set {
		defer debug.SetGCPercent(debug.SetGCPercent(proxyGCPercent))
	}
	// The watch's baseline is the file before the first load, so that a
	// change between the two is reloaded rather than missed.
	watch := &configWatch{path: f.config}
	var poll <-chan time.Time
	if f.watchInterval > 0 {
		_, _ = watch.check() // a missing file: f.load says so
		t := time.NewTicker(f.watchInterval)
		defer t.Stop()
		poll = t.C
	}
	cfg, err := f.load()
	if err != nil {
		return err
	}
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set {
		limit := proxyMemoryLimit(cfg.Limits.MaxBufferedBytes)
		defer debug.SetMemoryLimit(debug.SetMemoryLimit(limit))
		log.Info("proxy: GOMEMLIMIT set from limits.maxBufferedBytes", "bytes", limit)
	}
	opts := proxy.Options{Logger: log, Pprof: f.pprof}
	if f.accessLog {
		opts.AccessLog = log
	}
	if f.kubeconfig != "" {
		opts.Resolvers = append(opts.Resolvers, kube.NewBuilder(kube.Options{Kubeconfig: f.kubeconfig}))
	}
	p, err := newProxyServer(f.dataPlane, cfg, opts)
	if err != nil {
		return err
	}
	lis, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		p.Stop()
		return fmt.Errorf("proxy: %w", err)
	}
	var (
		admin    *http.Server
		adminLis net.Listener
	)
	if cfg.Admin != "" {
		if adminLis, err = net.Listen("tcp", cfg.Admin); err != nil {
			lis.Close()
			p.Stop()
			return fmt.Errorf("proxy: admin: %w", err)
		}
		admin = &http.Server{Handler: p.AdminHandler(), ReadHeaderTimeout: 10 * time.Second}
	}

	// Signals are handled before anything is served, so that an early
	// SIGTERM drains rather than kills.
	term := make(chan os.Signal, 2)
	signal.Notify(term, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(term)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	served := make(chan error, 2)
	go func() { served <- p.Serve(lis) }()
	adminAddr := ""
	if admin != nil {
		adminAddr = adminLis.Addr().String()
		go func() {
			if err := admin.Serve(adminLis); !errors.Is(err, http.ErrServerClosed) {
				served <- fmt.Errorf("admin: %w", err)
			}
		}()
	}
	log.Info("proxy: serving", "listen", lis.Addr().String(), "admin", adminAddr, "routes", len(cfg.Routes), "clusters", len(cfg.Clusters), "data_plane", f.dataPlane)
	if ready != nil {
		ready(lis.Addr().String(), adminAddr)
	}

	// reload is the one reload path, for SIGHUP and for a changed file.
	reload := func(trigger string) {
		next, err := f.load()
		if err == nil {
			err = p.Reload(next)
		}
		if err != nil {
			log.Error("proxy: reload failed; the running config is kept", "config", f.config, "trigger", trigger, "err", err)
		}
	}

	var runErr error
loop:
	for {
		select {
		case <-hup:
			// Stamp first, then load: a change after the stamp is
			// reloaded again at the next poll, never missed.
			if poll != nil {
				_, _ = watch.check()
			}
			reload("SIGHUP")
		case <-poll:
			changed, err := watch.check()
			if err != nil {
				log.Error("proxy: config file unreadable; the running config is kept", "config", f.config, "err", err)
			}
			if changed {
				log.Info("proxy: config file changed; reloading", "config", f.config)
				reload("file changed")
			}
		case sig := <-term:
			log.Info("proxy: draining", "signal", sig.String())
			ctx, cancel := context.WithCancel(context.Background())
			go func() {
				select {
				case sig := <-term:
					log.Warn("proxy: second signal: stopping now", "signal", sig.String())
					cancel()
				case <-ctx.Done():
				}
			}()
			runErr = p.Drain(ctx)
			cancel()
			break loop
		case err := <-served:
			runErr = fmt.Errorf("proxy: %w", err)
			p.Stop()
			break loop
		}
	}
	if admin != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = admin.Shutdown(ctx)
		cancel()
	}
	if runErr == nil {
		log.Info("proxy: stopped")
	}
	return runErr
}

// proxyServer is a proxy on either data plane.
type proxyServer interface {
	Serve(net.Listener) error
	Stop()
	Drain(context.Context) error
	Reload(*proxy.Config) error
	AdminHandler() http.Handler
}

func newProxyServer(dataPlane string, cfg *proxy.Config, opts proxy.Options) (proxyServer, error) {
	if dataPlane == "frames" {
		return proxy.NewFrames(cfg, opts)
	}
	return proxy.New(cfg, opts)
}

// proxyMemoryLimit is the proxy's GOMEMLIMIT unless the environment sets
// one: twice the message budget (messages are held on both sides of the
// proxy at times) plus 256 MiB for connections, goroutines and the rest.
func proxyMemoryLimit(budget int64) int64 {
	if budget == 0 {
		budget = proxy.DefaultMaxBufferedBytes
	}
	return 2*budget + 256<<20
}

// checkConfig is --check: it loads the config as a start would, and its
// certificate files, and says what it found.
func (f proxyFlags) checkConfig(stdout io.Writer) error {
	cfg, err := f.load()
	if err != nil {
		return err
	}
	if err := proxy.CheckTLSFiles(cfg); err != nil {
		return fmt.Errorf("%s: %w", f.config, err)
	}
	if f.dataPlane == "frames" {
		if err := proxy.CheckFrames(cfg); err != nil {
			return fmt.Errorf("%s: %w", f.config, err)
		}
	}
	fmt.Fprintf(stdout, "%s: OK: %d routes, %d clusters; listen %s\n", f.config, len(cfg.Routes), len(cfg.Clusters), cfg.Listen)
	return nil
}

// load reads the config file and applies the flags' overrides.
func (f proxyFlags) load() (*proxy.Config, error) {
	cfg, err := proxy.LoadConfig(f.config)
	if err != nil {
		return nil, err
	}
	if f.listen != "" {
		cfg.Listen = f.listen
	}
	switch f.admin {
	case "":
	case "off":
		cfg.Admin = ""
	default:
		cfg.Admin = f.admin
	}
	if cfg.Listen == "" {
		cfg.Listen = proxy.DefaultListen
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("%s with the flags' overrides: %w", f.config, err)
	}
	return cfg, nil
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	hopts := &slog.HandlerOptions{Level: lvl}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, hopts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, hopts)), nil
	default:
		return nil, fmt.Errorf("--log-format %q: want text or json", format)
	}
}
