package proxy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/balancer"

	"github.com/grpclb/grpclb/internal/jsonconf"
)

// Config is the proxy's configuration, usually read from a YAML file with
// LoadConfig or ParseConfig. Field names in YAML are the json tags.
type Config struct {
	// Listen is the gRPC listener's address (host:port). Default
	// 127.0.0.1:8443.
	Listen string `json:"listen,omitempty"`
	// Admin is the HTTP listener for /metrics, /healthz and /readyz; empty
	// means none.
	Admin string `json:"admin,omitempty"`
	// TLS on the gRPC listener; nil means plaintext (h2c).
	TLS *ListenerTLS `json:"tls,omitempty"`
	// Limits on what clients may send and receive.
	Limits Limits `json:"limits"`
	// Reflection says who answers grpc.reflection (v1 and v1alpha) calls,
	// unless a route claims them; see Reflection.
	Reflection Reflection `json:"reflection"`
	// Connections configures client connections' ageing.
	Connections Connections `json:"connections"`
	// Drain configures the graceful stop on SIGTERM.
	Drain DrainConfig `json:"drain"`
	// Routes map services and method prefixes to clusters. The longest
	// matching prefix wins; a method no route matches is answered with
	// UNIMPLEMENTED.
	Routes []Route `json:"routes"`
	// Clusters by name.
	Clusters map[string]*Cluster `json:"clusters"`
}

// ListenerTLS is the listener's certificate and, for mutual TLS, the CA that
// client certificates must chain to.
type ListenerTLS struct {
	// Cert and Key are PEM files (a certificate chain and its private key).
	Cert string `json:"cert"`
	Key  string `json:"key"`
	// ClientCA, when set, makes the proxy require and verify a client
	// certificate signed by one of the CAs in this PEM file.
	ClientCA string `json:"clientCA,omitempty"`
}

// Limits bound the resources one client may use. Zero means the default.
type Limits struct {
	// MaxConcurrentStreams is the most calls in flight on one client
	// connection. Default 1000.
	MaxConcurrentStreams uint32 `json:"maxConcurrentStreams,omitempty"`
	// MaxRequestBytes is the largest request message accepted from a client
	// (and sent upstream). Default 4 MiB.
	MaxRequestBytes int `json:"maxRequestBytes,omitempty"`
	// MaxResponseBytes is the largest response message accepted from an
	// upstream (and sent to a client). Default 4 MiB.
	MaxResponseBytes int `json:"maxResponseBytes,omitempty"`
	// MaxHeaderListBytes bounds the request and response header lists.
	// Default 16 KiB.
	MaxHeaderListBytes uint32 `json:"maxHeaderListBytes,omitempty"`
	// MaxBufferedBytes is the budget of message bytes the whole proxy
	// holds, received and not yet written out, both ways: beyond it the
	// proxy stops reading the connections that send more (flow control
	// pushes back on their senders) instead of buffering. Default 256 MiB;
	// at least 1 MiB. `grpclb proxy` sets GOMEMLIMIT from it unless the
	// environment sets one.
	MaxBufferedBytes int64 `json:"maxBufferedBytes,omitempty"`
}

// Connections bounds and ages client connections. After MaxAge (±10%) a
// client is sent GOAWAY and reconnects, which spreads clients of an L4
// balancer over the proxy's replicas; calls in flight get MaxAgeGrace to
// finish, so long streams need a long grace.
type Connections struct {
	// Max is the most client connections open at once; those beyond are
	// closed as soon as accepted. Default 5000 (an idle HTTP/2 connection
	// holds about 20 KiB).
	Max int `json:"max,omitempty"`
	// IdleTimeout closes (GOAWAY) a connection without a call for this
	// long. Default 1h; negative: never.
	IdleTimeout Duration `json:"idleTimeout,omitempty"`
	// HandshakeTimeout bounds a new connection's TLS and HTTP/2
	// handshakes. Default 10s.
	HandshakeTimeout Duration `json:"handshakeTimeout,omitempty"`
	// MaxAge defaults to 0: connections are not aged.
	MaxAge Duration `json:"maxAge,omitempty"`
	// MaxAgeGrace defaults to 1m.
	MaxAgeGrace Duration `json:"maxAgeGrace,omitempty"`
}

// Defaults for Limits, Connections and DrainConfig.
const (
	DefaultListen               = "127.0.0.1:8443"
	DefaultMaxConcurrentStreams = 1000
	DefaultMaxMessageBytes      = 4 << 20
	DefaultMaxHeaderListBytes   = 16 << 10
	DefaultMaxBufferedBytes     = 256 << 20
	DefaultMaxConnections       = 5000
	DefaultIdleTimeout          = time.Hour
	DefaultHandshakeTimeout     = 10 * time.Second
	DefaultMaxAgeGrace          = time.Minute
	DefaultDrainGrace           = 5 * time.Second
	DefaultDrainTimeout         = 30 * time.Second
)

// DrainConfig is the graceful stop: NOT_SERVING, Grace for clients and
// registries to notice, then at most Timeout for calls in flight.
type DrainConfig struct {
	// Grace defaults to 5s; a negative value means none.
	Grace Duration `json:"grace,omitempty"`
	// Timeout defaults to 30s.
	Timeout Duration `json:"timeout,omitempty"`
}

// Route sends the calls of one service, or of the methods under one prefix,
// to a cluster. Exactly one of Service and Prefix is set.
type Route struct {
	// Name labels the route in metrics and logs; default the service or
	// prefix.
	Name string `json:"name,omitempty"`
	// Service is a fully qualified service name, such as
	// "grpc.testing.TestService": all its methods.
	Service string `json:"service,omitempty"`
	// Prefix is a method prefix: "/pkg.Svc/" (the whole service, like
	// Service), "/pkg.Svc/Get" (every method starting with Get) or a full
	// method name.
	Prefix string `json:"prefix,omitempty"`
	// Cluster is the name of a cluster in Config.Clusters.
	Cluster string `json:"cluster"`
	// Timeout caps the deadline of the route's calls: a call without a
	// deadline, or with a later one, gets this one (DEADLINE_EXCEEDED
	// when it passes). Default none.
	Timeout Duration `json:"timeout,omitempty"`
	// Idempotent marks the route's methods as unary and safe to send
	// more than once: its calls are read whole (one request message) and
	// retried (Retry, default DefaultRetryPolicy) or hedged (Hedge). A call
	// of such a route that sends a second request message is refused with
	// UNIMPLEMENTED. Without it calls stream through and are not retried.
	Idempotent bool `json:"idempotent,omitempty"`
	// Retry is the retry policy of an idempotent route.
	Retry *RetryPolicy `json:"retry,omitempty"`
	// Hedge hedges an idempotent route's calls instead of retrying them
	// (set one of Retry and Hedge, as in gRPC's service config).
	Hedge *HedgePolicy `json:"hedge,omitempty"`
}

// Cluster is a set of upstream backends behind one grpc.ClientConn: a
// target for any registered resolver and a balancing policy.
type Cluster struct {
	// Target is a gRPC target: dns:///, dnspoll:///, static:///,
	// kubernetes:///, etcd://, consul://, passthrough:///, ...
	Target string `json:"target"`
	// Policy is the balancing policy: a registered name (p2c_ewma), a
	// loadBalancingConfig list or a whole service config; see Policy.
	// Default round_robin.
	Policy Policy `json:"policy,omitempty"`
	// TLS to the upstreams; nil means plaintext.
	TLS *UpstreamTLS `json:"tls,omitempty"`
	// Keepalive, when set, pings the cluster's backends: see Keepalive.
	// Unset, a backend that vanishes without closing its connections
	// holds the calls sent to it until TCP gives up, minutes later.
	Keepalive *Keepalive `json:"keepalive,omitempty"`
}

// Keepalive pings a backend on a connection that has calls in flight but
// has read nothing from it for Time, and closes the connection when the
// ping is not answered within Timeout: the calls on it fail (or are
// retried by their route) and the policy dials the backend again, which
// a backend that vanished (a node that died, a network partition) does
// not answer. Connections without calls are not pinged. grpc-go servers
// allow a ping every 5 minutes by default (keepalive.EnforcementPolicy's
// MinTime) unless they sent something meanwhile, and close the
// connection of a client that pings more often: keep Time at 5m or more,
// or lower their MinTime. The grpc data plane (grpc-go's client) raises a
// Time under 10s to 10s.
type Keepalive struct {
	// Time without a frame from the backend before a ping. Default 5m.
	Time Duration `json:"time,omitempty" range:"(0,24h]"`
	// Timeout for the ping's answer. Default 20s.
	Timeout Duration `json:"timeout,omitempty" range:"(0,1h]"`
}

// SetDefaults fills in Keepalive's defaults (jsonconf.Defaulter).
func (k *Keepalive) SetDefaults() {
	k.Time, k.Timeout = Duration(5*time.Minute), Duration(20*time.Second)
}

// DefaultPolicy is the service config of a cluster that sets none.
const DefaultPolicy = `{"loadBalancingConfig":[{"round_robin":{}}]}`

// UpstreamTLS is TLS from the proxy to a cluster's backends.
type UpstreamTLS struct {
	// CA is a PEM file of CAs the upstream certificates must chain to;
	// empty means the system roots.
	CA string `json:"ca,omitempty"`
	// Cert and Key are the proxy's client certificate for mutual TLS.
	Cert string `json:"cert,omitempty"`
	Key  string `json:"key,omitempty"`
	// ServerName is the name upstream certificates are checked against;
	// default the target's authority.
	ServerName string `json:"serverName,omitempty"`
}

// Duration is a time.Duration written as a string such as "5s" or "1m30s".
type Duration = jsonconf.Duration

// Policy is a cluster's balancing policy, in one of three forms:
//   - a registered policy's name, with its default config: p2c_ewma;
//   - a loadBalancingConfig list: [{"p2c_ewma": {}}], or the same list in
//     YAML;
//   - a whole gRPC service config: {"loadBalancingConfig": [...]}, as a
//     JSON string or a YAML mapping.
type Policy string

// UnmarshalJSON accepts a string (a name or JSON), a list or an object.
func (p *Policy) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*p = Policy(s)
		return nil
	}
	if t := bytes.TrimSpace(b); len(t) == 0 || (t[0] != '{' && t[0] != '[') {
		return fmt.Errorf("must be a policy name, a loadBalancingConfig list or a service config, got %s", jsonconf.Truncate(string(b)))
	}
	*p = Policy(b)
	return nil
}

// ServiceConfig returns the service config JSON of p (DefaultPolicy if p
// is empty), or an error if p names no registered policy.
func (p Policy) ServiceConfig() (string, error) {
	s := strings.TrimSpace(string(p))
	switch {
	case s == "":
		return DefaultPolicy, nil
	case s[0] == '{':
		return s, nil
	case s[0] == '[':
		return `{"loadBalancingConfig":` + s + `}`, nil
	case balancer.Get(s) == nil:
		return "", fmt.Errorf("%s is not a registered policy name (such as round_robin or p2c_ewma), a loadBalancingConfig list or a service config", jsonconf.Truncate(strconv.Quote(s)))
	}
	name, _ := json.Marshal(s)
	return `{"loadBalancingConfig":[{` + string(name) + `:{}}]}`, nil
}

// Reflection says who answers grpc.reflection calls (grpcurl list and
// describe), unless a route claims them:
//   - reflection: {cluster: X}: the backends of cluster X, so clients see
//     the services they serve through the proxy;
//   - reflection: true: the proxy itself, which lists and describes only
//     its own services (grpc.health.v1, grpc.reflection), not the other
//     descriptors compiled into its binary;
//   - false or absent: nobody (UNIMPLEMENTED).
type Reflection struct {
	Cluster string // a cluster of Clusters
	Local   bool
}

// UnmarshalJSON reads true, false or {"cluster": "X"}.
func (r *Reflection) UnmarshalJSON(b []byte) error {
	if err := json.Unmarshal(b, &r.Local); err == nil {
		r.Cluster = ""
		return nil
	}
	var obj struct {
		Cluster string `json:"cluster"`
	}
	if err := jsonconf.Decode(b, &obj); err != nil {
		return fmt.Errorf("must be true, false or {cluster: NAME}: %w", err)
	}
	*r = Reflection{Cluster: obj.Cluster}
	return nil
}

// MarshalJSON writes the form UnmarshalJSON reads.
func (r Reflection) MarshalJSON() ([]byte, error) {
	if r.Cluster != "" {
		return json.Marshal(map[string]string{"cluster": r.Cluster})
	}
	return json.Marshal(r.Local)
}
