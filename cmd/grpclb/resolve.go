package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
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

Flags:
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
	fs := flag.NewFlagSet("resolve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, resolveHelp)
		fs.PrintDefaults()
	}
	watch := fs.Bool("watch", false, "print every change until interrupted")
	timeout := fs.Duration("timeout", 10*time.Second, "without --watch: how long to wait for the first state")
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig for kubernetes:// targets (default: in-cluster, else $KUBECONFIG or ~/.kube/config)")
	asJSON := fs.Bool("json", false, "print one JSON object per state")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return errUsage
	}
	if len(pos) != 1 {
		fs.Usage()
		return errUsage
	}
	target := pos[0]
	u, err := url.Parse(target)
	if err != nil || u.Scheme == "" {
		return fmt.Errorf("resolve: %q is not a target URL such as dns:///host:port (%v)", target, err)
	}
	var b resolver.Builder
	if u.Scheme == kube.Scheme && *kubeconfig != "" {
		b = kube.NewBuilder(kube.Options{Kubeconfig: *kubeconfig})
	} else if b = resolver.Get(u.Scheme); b == nil {
		return fmt.Errorf("resolve: no resolver for scheme %q", u.Scheme)
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
	for {
		select {
		case <-ctx.Done():
			if !*watch {
				return fmt.Errorf("resolve: no state within %v", *timeout)
			}
			return nil
		case s := <-cc.states:
			if *asJSON {
				_ = enc.Encode(s)
			} else {
				printState(stdout, s)
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

func printState(w io.Writer, s resolvedState) {
	stamp := s.Time.Format("15:04:05.000")
	if s.Error != "" {
		fmt.Fprintf(w, "%s error: %s\n", stamp, s.Error)
		return
	}
	fmt.Fprintf(w, "%s %d endpoints\n", stamp, len(s.Endpoints))
	for _, ep := range s.Endpoints {
		line := "  " + strings.Join(ep.Addresses, ",")
		keys := make([]string, 0, len(ep.Attributes))
		for k := range ep.Attributes {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			line += fmt.Sprintf("  %s=%s", k, ep.Attributes[k])
		}
		fmt.Fprintln(w, line)
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
