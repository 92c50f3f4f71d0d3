package consul

import (
	"cmp"
	"log/slog"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/grpclb/grpclb/internal/targetopt"
)

// Options configure a Consul resolver. The zero value of a field takes its
// default.
type Options struct {
	// Config is the base of the API client each resolver makes: address,
	// scheme, TLS, token, namespace, partition and so on. Default
	// api.DefaultConfig(), which reads the usual Consul environment
	// variables: CONSUL_HTTP_ADDR, CONSUL_HTTP_TOKEN,
	// CONSUL_HTTP_TOKEN_FILE, CONSUL_HTTP_SSL, CONSUL_CACERT,
	// CONSUL_CLIENT_CERT, CONSUL_CLIENT_KEY, CONSUL_NAMESPACE,
	// CONSUL_PARTITION... A target's authority replaces Config.Address.
	// Config.Transport is not shared: each resolver clones it, and closes
	// its idle connections on Close.
	Config *api.Config
	// Token is the ACL token of the queries; it overrides Config.Token
	// (and so CONSUL_HTTP_TOKEN). It is never put in a target, where it
	// would be logged.
	Token string
	// WaitTime is how long one blocking query waits for a change before
	// Consul answers with the same index (Consul adds up to WaitTime/16).
	// Default 1m; Consul caps it at 10m.
	WaitTime time.Duration
	// Timeout bounds a query beyond WaitTime: an agent that stops
	// answering (a partition rather than a crash, which resets the
	// connection at once) is given up after WaitTime+WaitTime/16+Timeout.
	// Default 10s.
	Timeout time.Duration
	// MaxBackoff caps the wait between retries after a failed query.
	// Retries start at 100ms and double up to MaxBackoff. Default 5s.
	MaxBackoff time.Duration
	// PublishEmpty publishes an empty endpoint set when no instance
	// matches. Default false: once a set has been published, an empty
	// answer is logged and the last good set is kept, because every
	// instance vanishing at once is far more often an agent restarted
	// empty or a cluster rebuilt (instances register again within their
	// resync period) than a service scaled to zero. Before any set was
	// published, an empty answer is reported to the channel as an error
	// either way, so calls fail fast with the reason.
	PublishEmpty bool
	// Logger receives one line per change of the endpoint set, per skipped
	// entry (naming it) and per Consul failure. Default slog.Default().
	Logger *slog.Logger
}

// Defaults for Options.
const (
	DefaultWaitTime   = time.Minute
	DefaultTimeout    = 10 * time.Second
	DefaultMaxBackoff = 5 * time.Second
	// DefaultPort is the port of an agent given without one in a target:
	// Consul's HTTP port.
	DefaultPort = "8500"

	minBackoff  = 100 * time.Millisecond
	maxWaitTime = 10 * time.Minute
)

// withDefaults fills zero fields and checks the rest.
func (o Options) withDefaults() (Options, error) {
	o.Logger = cmp.Or(o.Logger, slog.Default())
	// cmp.Or: every default is filled, and the first error returned.
	err := cmp.Or(
		targetopt.DefaultDuration("wait", &o.WaitTime, DefaultWaitTime, time.Millisecond, maxWaitTime),
		targetopt.DefaultDuration("timeout", &o.Timeout, DefaultTimeout, 0, 0),
		targetopt.DefaultDuration("max_backoff", &o.MaxBackoff, DefaultMaxBackoff, minBackoff, 0),
	)
	return o, err
}
