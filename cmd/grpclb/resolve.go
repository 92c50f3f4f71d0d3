package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/url"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/serviceconfig"

	"github.com/grpclb/grpclb/endpoint"
	"github.com/grpclb/grpclb/resolver/consul"
	"github.com/grpclb/grpclb/resolver/dnspoll"
	"github.com/grpclb/grpclb/resolver/etcd"
	"github.com/grpclb/grpclb/resolver/kube"
	_ "github.com/grpclb/grpclb/resolver/static"
)

const resolveHelp = `Usage: grpclb resolve [flags] TARGET

Resolves TARGET with the resolver its scheme names and prints the endpoint
set, with what the resolver knows of each endpoint (pod, zone and node from
Kubernetes; metadata from etcd; tags and node from Consul; SRV priority and
weight from dnspoll). With --watch it prints every change until interrupted.

Schemes: kubernetes, etcd, consul, dnspoll, static (grpclb's); dns,
passthrough, unix (grpc-go's).

Examples:
  grpclb resolve kubernetes:///echo.prod:grpc
  grpclb resolve --watch --kubeconfig ~/.kube/staging kubernetes://prod/echo:50051
  grpclb resolve etcd://127.0.0.1:2379/service/echo
  grpclb resolve consul://127.0.0.1:8500/echo?tag=grpc
  grpclb resolve --watch 'dnspoll:///echo.test:50051?interval=2s'
  grpclb resolve --json static:///10.0.0.1:50051,10.0.0.2:50051

`

// resolvedState is one state as printed.
type resolvedState struct {
	Time      time.Time          `json:"time"`
	Endpoints []resolvedEndpoint `json:"endpoints"`
	Error     string             `json:"error,omitempty"`
}

type resolvedEndpoint struct {
	Addresses  []string          `json:"addresses"`
	Attributes map[string]string `json:"attributes,omitempty"`
}

func runResolve(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("resolve")
	watch := fs.Bool("watch", false, "print every change until interrupted")
	timeout := fs.Duration("timeout", 10*time.Second, "without --watch: how long to wait for the first state")
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig for kubernetes:// targets (default: in-cluster, else $KUBECONFIG or ~/.kube/config)")
	asJSON := fs.Bool("json", false, "print one JSON object per state")
	pos, err := parseFlags(fs, args, stdout, resolveHelp)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("resolve", "want one TARGET, such as dns:///echo.test:50051")
	}
	var custom resolver.Builder
	if *kubeconfig != "" {
		custom = kube.NewBuilder(kube.Options{Kubeconfig: *kubeconfig})
	}
	u, b, err := parseTarget(pos[0], custom)
	if err != nil {
		return usagef("resolve", "%v", err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if !*watch {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *timeout)
		defer cancel()
	}
	cc := &printingCC{states: make(chan resolvedState, 16)}
	r, err := b.Build(resolver.Target{URL: *u}, cc, resolver.BuildOptions{})
	if err != nil {
		return fmt.Errorf("resolve: %w", err)
	}
	defer r.Close()
	r.ResolveNow(resolver.ResolveNowOptions{})
	enc := json.NewEncoder(stdout)
	var prev *resolvedState // the last endpoint set printed, for --watch's changes
	lastErr := ""
	for {
		select {
		case <-ctx.Done():
			if !*watch {
				if lastErr != "" {
					return fmt.Errorf("resolve: no endpoints within %v; the %s resolver's last error: %s", *timeout, u.Scheme, lastErr)
				}
				return fmt.Errorf("resolve: no state within %v: the %s resolver reported neither endpoints nor an error", *timeout, u.Scheme)
			}
			return nil
		case s := <-cc.states:
			switch {
			case *asJSON:
				_ = enc.Encode(s)
			case prev != nil && s.Error == "":
				printChanges(stdout, *prev, s)
			default:
				printState(stdout, s)
			}
			if s.Error == "" {
				prev = &s
			} else {
				lastErr = s.Error
			}
			if !*watch && s.Error == "" {
				return nil
			}
			if !*watch && s.Error != "" {
				return fmt.Errorf("resolve: %s", s.Error)
			}
		}
	}
}

// parseTarget parses a target as grpc.NewClient does: a URL whose scheme
// has a resolver, else (a bare host:port, or an unknown scheme) the same
// target under dns:///. custom, when set, is the resolver of its scheme.
func parseTarget(target string, custom resolver.Builder) (*url.URL, resolver.Builder, error) {
	builder := func(scheme string) resolver.Builder {
		if custom != nil && custom.Scheme() == scheme {
			return custom
		}
		return resolver.Get(scheme)
	}
	if u, err := url.Parse(target); err == nil && u.Scheme != "" {
		if b := builder(u.Scheme); b != nil {
			return u, b, nil
		}
		if strings.Contains(target, "://") {
			// grpc.NewClient would look up "nope:///x" in DNS; a scheme
			// spelled out is surely a scheme, so say it is unknown.
			return nil, nil, fmt.Errorf("no resolver for scheme %q (grpclb's: kubernetes, etcd, consul, dnspoll, static; grpc-go's: dns, passthrough, unix)", u.Scheme)
		}
	}
	u, err := url.Parse("dns:///" + target)
	if err != nil || target == "" {
		return nil, nil, fmt.Errorf("%q is not a target: want scheme://[authority]/endpoint (dns:///host:port, kubernetes:///svc.ns:port) or host:port", target)
	}
	return u, builder("dns"), nil
}

// printChanges prints how s differs from prev: + an endpoint that joined,
// - one that left, ~ one whose attributes changed.
func printChanges(w io.Writer, prev, s resolvedState) {
	key := func(ep resolvedEndpoint) string { return strings.Join(ep.Addresses, ",") }
	old := map[string]resolvedEndpoint{}
	for _, ep := range prev.Endpoints {
		old[key(ep)] = ep
	}
	var lines []string
	seen := map[string]bool{}
	for _, ep := range s.Endpoints {
		k := key(ep)
		seen[k] = true
		before, ok := old[k]
		switch {
		case !ok:
			lines = append(lines, "+ "+describeLine(ep))
		case !maps.Equal(before.Attributes, ep.Attributes):
			lines = append(lines, "~ "+describeLine(ep))
		}
	}
	for _, ep := range prev.Endpoints {
		if !seen[key(ep)] {
			lines = append(lines, "- "+key(ep))
		}
	}
	stamp := s.Time.Format("15:04:05.000")
	if len(lines) == 0 {
		fmt.Fprintf(w, "%s %d endpoints, no change\n", stamp, len(s.Endpoints))
		return
	}
	fmt.Fprintf(w, "%s %d endpoints\n", stamp, len(s.Endpoints))
	for _, l := range lines {
		fmt.Fprintln(w, "  "+l)
	}
}

// describeLine is an endpoint's addresses and attributes on one line.
func describeLine(ep resolvedEndpoint) string {
	line := strings.Join(ep.Addresses, ",")
	keys := make([]string, 0, len(ep.Attributes))
	for k := range ep.Attributes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		line += fmt.Sprintf("  %s=%s", k, ep.Attributes[k])
	}
	return line
}

func printState(w io.Writer, s resolvedState) {
	stamp := s.Time.Format("15:04:05.000")
	if s.Error != "" {
		fmt.Fprintf(w, "%s error: %s\n", stamp, s.Error)
		return
	}
	fmt.Fprintf(w, "%s %d endpoints\n", stamp, len(s.Endpoints))
	for _, ep := range s.Endpoints {
		fmt.Fprintln(w, "  "+describeLine(ep))
	}
}

// printingCC is the ClientConn the resolver reports to.
type printingCC struct {
	mu     sync.Mutex
	states chan resolvedState
}

func (c *printingCC) UpdateState(s resolver.State) error {
	out := resolvedState{Time: time.Now()}
	eps := s.Endpoints
	if len(eps) == 0 {
		for _, a := range s.Addresses {
			eps = append(eps, resolver.Endpoint{Addresses: []resolver.Address{a}})
		}
	}
	for _, ep := range eps {
		re := resolvedEndpoint{Attributes: describeEndpoint(ep)}
		for _, a := range ep.Addresses {
			re.Addresses = append(re.Addresses, a.Addr)
		}
		out.Endpoints = append(out.Endpoints, re)
	}
	c.send(out)
	return nil
}

func (c *printingCC) ReportError(err error) {
	c.send(resolvedState{Time: time.Now(), Error: err.Error()})
}

func (c *printingCC) send(s resolvedState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	select {
	case c.states <- s:
	default: // a reader far behind: drop the oldest
		<-c.states
		c.states <- s
	}
}

func (*printingCC) NewAddress([]resolver.Address) {}

func (*printingCC) ParseServiceConfig(string) *serviceconfig.ParseResult {
	return &serviceconfig.ParseResult{Err: errors.New("grpclb resolve does not parse service configs")}
}

// describeEndpoint renders what grpclb's resolvers attach to an endpoint.
func describeEndpoint(ep resolver.Endpoint) map[string]string {
	attrs := map[string]string{}
	set := func(k, v string) {
		if v != "" {
			attrs[k] = v
		}
	}
	if info, ok := kube.InfoFromEndpoint(ep); ok {
		set("pod", info.Name)
		set("zone", info.Zone)
		set("node", info.NodeName)
		set("hostname", info.Hostname)
		if info.Terminating {
			set("terminating", "true")
		}
	}
	if inst, ok := etcd.InstanceFromEndpoint(ep); ok {
		set("key", inst.Key)
		if len(inst.Metadata) > 0 {
			set("metadata", string(inst.Metadata))
		}
	}
	if inst, ok := consul.InstanceFromEndpoint(ep); ok {
		set("id", inst.ID)
		set("node", inst.Node)
		set("dc", inst.Datacenter)
		set("tags", strings.Join(inst.Tags, ","))
	}
	if srv, ok := dnspoll.SRVInfoFromEndpoint(ep); ok {
		set("srv", fmt.Sprintf("%s:%d priority=%d weight=%d", srv.Target, srv.Port, srv.Priority, srv.Weight))
	}
	if w := endpoint.Weight(ep); w != 1 {
		set("weight", fmt.Sprint(w))
	}
	return attrs
}
