package proxy

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/resolver"
	"sigs.k8s.io/yaml"

	"github.com/grpclb/grpclb/internal/jsonconf"
)

// LoadConfig reads and validates a YAML config file. Relative certificate
// paths in it are taken relative to the file's directory.
func LoadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	cfg, err := ParseConfig(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	cfg.resolvePaths(filepath.Dir(path))
	return cfg, nil
}

// ParseConfig parses and validates a YAML (or JSON) config. Unknown and
// repeated fields are errors; every invalid field is reported, named by its
// path such as clusters.echo.target or routes[2].cluster.
func ParseConfig(b []byte) (*Config, error) {
	js, err := yaml.YAMLToJSON(b)
	if err != nil {
		msg := strings.TrimPrefix(err.Error(), "error converting YAML to JSON: ")
		return nil, fmt.Errorf("proxy config: %s", msg)
	}
	var cfg Config
	if err := jsonconf.Decode(js, &cfg); err != nil {
		return nil, fmt.Errorf("proxy config: %w", err)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// Validate checks every field and returns all the problems found, each
// naming its field. It does not read certificate files.
func (c *Config) Validate() error { return c.validate(nil) }

// validate is Validate with builders (Options.Resolvers) known besides the
// registered resolvers.
func (c *Config) validate(builders []resolver.Builder) error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	for _, a := range []struct{ field, addr string }{{"listen", c.Listen}, {"admin", c.Admin}} {
		if a.addr == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(a.addr); err != nil {
			bad(a.field, "%q is not host:port: %v", a.addr, err)
		}
	}
	if c.Listen != "" && c.Listen == c.Admin && !strings.HasSuffix(c.Listen, ":0") {
		bad("admin", "same address as listen (%s)", c.Admin)
	}
	if t := c.TLS; t != nil {
		if t.Cert == "" {
			bad("tls.cert", "empty")
		}
		if t.Key == "" {
			bad("tls.key", "empty")
		}
	}
	if c.Limits.MaxRequestBytes < 0 {
		bad("limits.maxRequestBytes", "negative (%d)", c.Limits.MaxRequestBytes)
	}
	if c.Limits.MaxResponseBytes < 0 {
		bad("limits.maxResponseBytes", "negative (%d)", c.Limits.MaxResponseBytes)
	}
	if b := c.Limits.MaxBufferedBytes; b != 0 && b < 1<<20 {
		bad("limits.maxBufferedBytes", "%d is below 1 MiB", b)
	}
	if c.Connections.Max < 0 {
		bad("connections.max", "negative (%d)", c.Connections.Max)
	}
	if c.Connections.HandshakeTimeout < 0 {
		bad("connections.handshakeTimeout", "negative (%v)", time.Duration(c.Connections.HandshakeTimeout))
	}
	if c.Connections.MaxAge < 0 {
		bad("connections.maxAge", "negative (%v)", time.Duration(c.Connections.MaxAge))
	}
	if c.Connections.MaxAgeGrace < 0 {
		bad("connections.maxAgeGrace", "negative (%v)", time.Duration(c.Connections.MaxAgeGrace))
	}
	if c.Drain.Timeout < 0 {
		bad("drain.timeout", "negative (%v)", time.Duration(c.Drain.Timeout))
	}

	if len(c.Clusters) == 0 {
		bad("clusters", "none defined")
	}
	names := make([]string, 0, len(c.Clusters))
	for name := range c.Clusters {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		cl := c.Clusters[name]
		field := "clusters." + name
		if name == "" {
			bad("clusters", "a cluster has an empty name")
		}
		if cl == nil {
			bad(field, "empty")
			continue
		}
		if err := checkTarget(cl.Target, builders); err != nil {
			bad(field+".target", "%v", err)
		}
		if err := checkPolicy(cl.Policy); err != nil {
			bad(field+".policy", "%v", err)
		}
		if t := cl.TLS; t != nil && (t.Cert == "") != (t.Key == "") {
			bad(field+".tls", "cert and key must be set together")
		}
		if k := cl.Keepalive; k != nil && (k.Time <= 0 || k.Timeout <= 0) {
			bad(field+".keepalive", "time and timeout must be positive, got %v and %v", time.Duration(k.Time), time.Duration(k.Timeout))
		}
	}

	if len(c.Routes) == 0 {
		bad("routes", "none defined (the proxy would refuse every call)")
	}
	switch r := c.Reflection; {
	case r.Cluster != "" && r.Local:
		bad("reflection", "set a cluster or local (true), not both")
	case r.Cluster != "" && c.Clusters[r.Cluster] == nil:
		bad("reflection.cluster", "%q is not a defined cluster", r.Cluster)
	}
	seen := map[string]int{}
	seenName := map[string]int{}
	for i, r := range c.Routes {
		field := fmt.Sprintf("routes[%d]", i)
		prefix, err := r.match()
		if err != nil {
			bad(field, "%v", err)
		} else if j, dup := seen[prefix]; dup {
			bad(field, "matches the same calls as routes[%d] (%s)", j, prefix)
		} else {
			seen[prefix] = i
		}
		if name := r.label(); name != "" {
			if j, dup := seenName[name]; dup && r.Name != "" {
				bad(field+".name", "%q is also the name of routes[%d]", name, j)
			} else if !dup {
				seenName[name] = i
			}
		}
		if r.Timeout < 0 {
			bad(field+".timeout", "negative (%v)", time.Duration(r.Timeout))
		}
		switch {
		case (r.Retry != nil || r.Hedge != nil) && !r.Idempotent:
			bad(field, "retry and hedge need idempotent: true (the calls are sent more than once)")
		case r.Retry != nil && r.Hedge != nil:
			bad(field, "set one of retry and hedge, not both")
		case r.Retry != nil:
			for _, p := range r.Retry.problems() {
				errs = append(errs, fmt.Errorf("%s.retry.%s", field, p))
			}
		}
		switch {
		case r.Cluster == "":
			bad(field+".cluster", "empty")
		case c.Clusters[r.Cluster] == nil:
			bad(field+".cluster", "%q is not a defined cluster", r.Cluster)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("proxy config: %w", err)
	}
	return nil
}

// match returns the method prefix the route matches: "/pkg.Svc/" for a
// service, the prefix itself otherwise.
// MethodPrefix is the method prefix a valid route matches: "/pkg.Svc/"
// for a Service, else its Prefix.
func (r Route) MethodPrefix() string {
	p, _ := r.match()
	return p
}

func (r Route) match() (string, error) {
	switch {
	case r.Service != "" && r.Prefix != "":
		return "", errors.New("set one of service and prefix, not both")
	case r.Service != "":
		if err := checkServiceName(r.Service); err != nil {
			return "", fmt.Errorf("service: %w", err)
		}
		return "/" + r.Service + "/", nil
	case r.Prefix != "":
		rest, ok := strings.CutPrefix(r.Prefix, "/")
		svc, method, ok2 := strings.Cut(rest, "/")
		if !ok || !ok2 {
			return "", fmt.Errorf("prefix: %q must be /service/ or /service/method-prefix", r.Prefix)
		}
		if err := checkServiceName(svc); err != nil {
			return "", fmt.Errorf("prefix: %w", err)
		}
		if strings.ContainsAny(method, "/ \t\r\n") {
			return "", fmt.Errorf("prefix: method part %q holds a slash or a space", method)
		}
		return r.Prefix, nil
	default:
		return "", errors.New("set service or prefix")
	}
}

// label names the route in metrics and logs.
func (r Route) label() string {
	switch {
	case r.Name != "":
		return r.Name
	case r.Service != "":
		return r.Service
	default:
		return r.Prefix
	}
}

func checkServiceName(s string) error {
	if s == "" {
		return errors.New("empty service name")
	}
	if strings.HasPrefix(s, ".") || strings.HasSuffix(s, ".") || strings.Contains(s, "..") {
		return fmt.Errorf("%q is not a fully qualified service name", s)
	}
	for _, r := range s {
		if !(r == '.' || r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return fmt.Errorf("%q is not a fully qualified service name (character %q)", s, r)
		}
	}
	return nil
}

func checkTarget(target string, builders []resolver.Builder) error {
	if strings.TrimSpace(target) == "" {
		return errors.New("empty")
	}
	if scheme, _, ok := strings.Cut(target, "://"); ok && resolver.Get(scheme) == nil && !slices.ContainsFunc(builders, func(b resolver.Builder) bool { return b.Scheme() == scheme }) {
		return fmt.Errorf("no resolver is registered for scheme %q (%s)", scheme, target)
	}
	// grpclb's resolvers check a target without starting: its mistakes
	// are config errors now rather than a cluster that fails every call.
	b, full := resolverFor(target, builders)
	if c, ok := b.(interface{ CheckTarget(resolver.Target) error }); ok {
		u, err := url.Parse(full)
		if err != nil {
			return err
		}
		return c.CheckTarget(resolver.Target{URL: *u})
	}
	return nil
}

// checkPolicy has grpc-go parse the service config, the way grpc.NewClient
// will, and returns its error. It opens no connection.
func checkPolicy(p Policy) error {
	policy, err := p.ServiceConfig()
	if err != nil {
		return err
	}
	cc, err := grpc.NewClient("passthrough:///policy-check",
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultServiceConfig(policy))
	if err != nil {
		return err
	}
	return cc.Close()
}

// resolvePaths makes relative certificate paths relative to dir.
func (c *Config) resolvePaths(dir string) {
	abs := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	if t := c.TLS; t != nil {
		abs(&t.Cert)
		abs(&t.Key)
		abs(&t.ClientCA)
	}
	for _, cl := range c.Clusters {
		if t := cl.TLS; t != nil {
			abs(&t.CA)
			abs(&t.Cert)
			abs(&t.Key)
		}
	}
}

// withDefaults returns a copy of c with every zero field set to its
// default. The copy shares the clusters' and routes' values, which are not
// changed.
func (c *Config) withDefaults() Config {
	d := *c
	d.Listen = cmp.Or(d.Listen, DefaultListen)
	d.Limits.MaxConcurrentStreams = cmp.Or(d.Limits.MaxConcurrentStreams, DefaultMaxConcurrentStreams)
	d.Limits.MaxRequestBytes = cmp.Or(d.Limits.MaxRequestBytes, DefaultMaxMessageBytes)
	d.Limits.MaxResponseBytes = cmp.Or(d.Limits.MaxResponseBytes, DefaultMaxMessageBytes)
	d.Limits.MaxHeaderListBytes = cmp.Or(d.Limits.MaxHeaderListBytes, DefaultMaxHeaderListBytes)
	d.Limits.MaxBufferedBytes = cmp.Or(d.Limits.MaxBufferedBytes, DefaultMaxBufferedBytes)
	d.Connections.Max = cmp.Or(d.Connections.Max, DefaultMaxConnections)
	d.Connections.IdleTimeout = cmp.Or(d.Connections.IdleTimeout, Duration(DefaultIdleTimeout))
	d.Connections.HandshakeTimeout = cmp.Or(d.Connections.HandshakeTimeout, Duration(DefaultHandshakeTimeout))
	d.Connections.MaxAgeGrace = cmp.Or(d.Connections.MaxAgeGrace, Duration(DefaultMaxAgeGrace))
	d.Drain.Grace = cmp.Or(d.Drain.Grace, Duration(DefaultDrainGrace))
	d.Drain.Timeout = cmp.Or(d.Drain.Timeout, Duration(DefaultDrainTimeout))
	return d
}
