package etcd

import (
	"cmp"
	"log/slog"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/grpclb/grpclb/internal/targetopt"
)

// Options configure an etcd resolver. The zero value of a field takes its
// default.
type Options struct {
	// Endpoints are the etcd endpoints ("host:port" or URLs such as
	// "https://etcd-1:2379") used when a target has no authority. Default:
	// the comma-separated ETCD_ENDPOINTS environment variable.
	Endpoints []string
	// Client, when set, is used (and shared) by every target without an
	// authority, instead of a client per target made from Endpoints. The
	// resolver never closes it. Options.ClientConfig, DialTimeout and
	// MaxBackoff do not apply to it.
	Client *clientv3.Client
	// ClientConfig is the base of the clients the resolver makes: TLS,
	// Username and Password, keepalive, DialOptions and so on. Its
	// Endpoints, DialTimeout and Context are set by the resolver. Its
	// Logger, when nil, is a no-op logger: the resolver logs what matters
	// with Logger. DialKeepAliveTime defaults to 10s and
	// DialKeepAliveTimeout to 5s, so a silently dead etcd connection is
	// noticed.
	ClientConfig clientv3.Config
	// DialTimeout bounds dialing etcd (and authenticating). Default 5s.
	DialTimeout time.Duration
	// Timeout bounds one read of the whole prefix. Default 5s.
	Timeout time.Duration
	// MaxBackoff caps the wait between retries after etcd fails (a read,
	// an ended watch) and the client's reconnection backoff. Retries start
	// at 100ms and double up to MaxBackoff. Default 5s.
	MaxBackoff time.Duration
	// PublishEmpty publishes an empty endpoint set when no valid instance
	// is registered under the prefix. Default false: once a set has been
	// published, an empty prefix is logged and the last good set is kept,
	// because every lease expiring at once is far more often a partition
	// between the servers and etcd (or a wiped etcd) than a service scaled
	// to zero. Before any set was published, an empty prefix is reported
	// to the channel as an error either way, so calls fail fast with the
	// reason.
	PublishEmpty bool
	// Logger receives one line per change of the endpoint set, per skipped
	// value (naming its key) and per etcd failure. Default slog.Default().
	Logger *slog.Logger
}

// Defaults for Options.
const (
	DefaultDialTimeout = 5 * time.Second
	DefaultTimeout     = 5 * time.Second
	DefaultMaxBackoff  = 5 * time.Second
	// DefaultPort is the port of an endpoint in a target given without
	// one: etcd's client port.
	DefaultPort = "2379"
	// EnvEndpoints names the environment variable that lists the default
	// endpoints.
	EnvEndpoints = "ETCD_ENDPOINTS"

	minBackoff          = 100 * time.Millisecond
	defaultKeepAlive    = 10 * time.Second
	defaultKeepAliveTTL = 5 * time.Second
)

// withDefaults fills zero fields and checks the rest.
func (o Options) withDefaults() (Options, error) {
	o.Logger = cmp.Or(o.Logger, slog.Default())
	// cmp.Or: every default is filled, and the first error returned.
	err := cmp.Or(
		targetopt.DefaultDuration("dial_timeout", &o.DialTimeout, DefaultDialTimeout, 0, 0),
		targetopt.DefaultDuration("timeout", &o.Timeout, DefaultTimeout, 0, 0),
		targetopt.DefaultDuration("max_backoff", &o.MaxBackoff, DefaultMaxBackoff, minBackoff, 0),
	)
	return o, err
}
