package grpclb

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/grpclb/grpclb/hedge"
	"github.com/grpclb/grpclb/internal/jsonconf"
)

// Config is what NewClient builds a channel from. Start from Defaults and
// change it with Options.
type Config struct {
	// LoadBalancingConfig is the loadBalancingConfig list of the service
	// config, as JSON: `[{"p2c_ewma":{}}]` by default.
	LoadBalancingConfig string
	// HealthCheck turns client-side health checking on; HealthService is
	// the service name checked ("" is the server as a whole).
	HealthCheck   bool
	HealthService string
	// Idempotent lists the methods that may be retried on UNAVAILABLE:
	// full names "/pkg.Service/Method", or "pkg.Service" for every method
	// of a service.
	Idempotent []string
	// Retry is the retry policy for the idempotent methods.
	Retry RetryPolicy
	// KeepaliveTime is how long a connection may be silent before the
	// client pings it (0: no keepalive; at least 10s, grpc-go's floor), and
	// KeepaliveTimeout how long the ping may go unanswered before the
	// connection is closed and its calls fail over.
	KeepaliveTime, KeepaliveTimeout time.Duration
	// HedgingOn hedges the idempotent methods' calls (package hedge): a
	// second attempt after an adaptive delay, within a 10% budget. Hedging
	// holds extra hedge options; the methods are Idempotent.
	Hedging   []hedge.Option
	HedgingOn bool
	// DialOptions are passed to grpc.NewClient after grpclb's own.
	DialOptions []grpc.DialOption
}

// RetryPolicy is a gRPC retry policy (gRFC A6).
type RetryPolicy struct {
	MaxAttempts       int           // including the first; 2 to 5
	InitialBackoff    time.Duration // the first retry waits up to this (randomised)
	MaxBackoff        time.Duration
	BackoffMultiplier float64
	Codes             []codes.Code // retried codes; UNAVAILABLE by default
}

// DefaultLoadBalancingConfig is NewClient's policy: outlier ejection
// (consecutive failures at once, failure percentage every second, at most
// half the endpoints, 10s growing with repeated ejections) over p2c_ewma.
// The lab found p2c_ewma best with slow, frozen and killed backends
// (slow, freeze, kill scenarios), and ejection cuts what callers see of a
// failing backend (flaky).
const DefaultLoadBalancingConfig = `[{"outlier_ejection":{"interval":"1s","baseEjectionTime":"2s","maxEjectionPercent":50,` +
	`"consecutiveFailures":{"threshold":5},` +
	`"failurePercentage":{"threshold":30,"minimumHosts":2,"requestVolume":20},` +
	`"childPolicy":[{"p2c_ewma":{}}]}}]`

// Defaults is the configuration NewClient starts from.
func Defaults() Config {
	return Config{
		LoadBalancingConfig: DefaultLoadBalancingConfig,
		HealthCheck:         true,
		Retry: RetryPolicy{
			MaxAttempts:       4,
			InitialBackoff:    20 * time.Millisecond,
			MaxBackoff:        500 * time.Millisecond,
			BackoffMultiplier: 2,
			Codes:             []codes.Code{codes.Unavailable},
		},
		KeepaliveTime:    minKeepaliveTime,
		KeepaliveTimeout: 3 * time.Second,
	}
}

// Option changes a Config.
type Option func(*Config)

// WithLoadBalancing sets the loadBalancingConfig list, as JSON, for
// example `[{"round_robin":{}}]` or `[{"consistent_hash":{"loadFactor":1.25}}]`.
func WithLoadBalancing(json string) Option { return func(c *Config) { c.LoadBalancingConfig = json } }

// WithIdempotent marks methods ("/pkg.Service/Method") or whole services
// ("pkg.Service") as safe to retry.
func WithIdempotent(methods ...string) Option {
	return func(c *Config) { c.Idempotent = append(c.Idempotent, methods...) }
}

// WithRetryPolicy replaces the retry policy of the idempotent methods.
func WithRetryPolicy(p RetryPolicy) Option { return func(c *Config) { c.Retry = p } }

// WithHealthCheck sets whether client-side health checking is on, and the
// service name it checks.
func WithHealthCheck(on bool, service string) Option {
	return func(c *Config) { c.HealthCheck, c.HealthService = on, service }
}

// WithKeepalive sets the client keepalive; a zero time turns it off.
func WithKeepalive(time, timeout time.Duration) Option {
	return func(c *Config) { c.KeepaliveTime, c.KeepaliveTimeout = time, timeout }
}

// WithHedging hedges the calls of the idempotent methods (WithIdempotent)
// with package hedge, with opts on top of its defaults (an adaptive delay
// at the p95 of recent latencies, 2 attempts, a 10% budget). Hedging cuts
// the latency tail that balancing leaves, for a few percent more calls.
func WithHedging(opts ...hedge.Option) Option {
	return func(c *Config) { c.HedgingOn, c.Hedging = true, append(c.Hedging, opts...) }
}

// WithDialOptions adds grpc.DialOptions, such as transport credentials.
func WithDialOptions(opts ...grpc.DialOption) Option {
	return func(c *Config) { c.DialOptions = append(c.DialOptions, opts...) }
}

// ServiceConfig returns the service config JSON that NewClient would use,
// for grpc.WithDefaultServiceConfig or a resolver that serves it.
func ServiceConfig(opts ...Option) (string, error) {
	c := Defaults()
	for _, o := range opts {
		o(&c)
	}
	sc, err := c.serviceConfig()
	if err != nil {
		return "", fmt.Errorf("grpclb: %w", err)
	}
	return sc, nil
}

// JSON shapes of the service config (gRFC A2, A6, A17).
type serviceConfigJSON struct {
	LoadBalancingConfig json.RawMessage    `json:"loadBalancingConfig"`
	HealthCheckConfig   *healthCheckJSON   `json:"healthCheckConfig,omitempty"`
	MethodConfig        []methodConfigJSON `json:"methodConfig,omitempty"`
}

type healthCheckJSON struct {
	ServiceName string `json:"serviceName"`
}

type methodConfigJSON struct {
	Name        []methodNameJSON `json:"name"`
	RetryPolicy *retryPolicyJSON `json:"retryPolicy,omitempty"`
}

type methodNameJSON struct {
	Service string `json:"service"`
	Method  string `json:"method,omitempty"`
}

type retryPolicyJSON struct {
	MaxAttempts          int      `json:"maxAttempts"`
	InitialBackoff       string   `json:"initialBackoff"`
	MaxBackoff           string   `json:"maxBackoff"`
	BackoffMultiplier    float64  `json:"backoffMultiplier"`
	RetryableStatusCodes []string `json:"retryableStatusCodes"`
}

// serviceConfig checks c and renders it.
func (c Config) serviceConfig() (string, error) {
	var errs []error
	var lb json.RawMessage
	if err := json.Unmarshal([]byte(c.LoadBalancingConfig), &lb); err != nil {
		errs = append(errs, fmt.Errorf("load balancing config %q is not JSON: %v", c.LoadBalancingConfig, err))
	} else if !strings.HasPrefix(strings.TrimSpace(c.LoadBalancingConfig), "[") {
		errs = append(errs, fmt.Errorf("load balancing config %q must be a JSON list, such as [{\"round_robin\":{}}]", c.LoadBalancingConfig))
	}
	if c.KeepaliveTime != 0 && c.KeepaliveTime < minKeepaliveTime {
		errs = append(errs, fmt.Errorf("keepalive time %v is below grpc-go's floor of %v", c.KeepaliveTime, minKeepaliveTime))
	}
	if c.KeepaliveTime > 0 && c.KeepaliveTimeout <= 0 {
		errs = append(errs, fmt.Errorf("keepalive timeout %v must be positive", c.KeepaliveTimeout))
	}
	sc := serviceConfigJSON{LoadBalancingConfig: lb}
	if c.HealthCheck {
		sc.HealthCheckConfig = &healthCheckJSON{ServiceName: c.HealthService}
	}
	if len(c.Idempotent) > 0 {
		names, err := methodNames(c.Idempotent)
		if err != nil {
			errs = append(errs, err)
		}
		rp, err := c.Retry.json()
		if err != nil {
			errs = append(errs, err)
		}
		sc.MethodConfig = []methodConfigJSON{{Name: names, RetryPolicy: rp}}
	}
	if err := errors.Join(errs...); err != nil {
		return "", err
	}
	out, err := json.Marshal(sc)
	return string(out), err
}

// methodNames turns "/pkg.Svc/Method" and "pkg.Svc" into method config
// names.
func methodNames(methods []string) ([]methodNameJSON, error) {
	var out []methodNameJSON
	for _, m := range methods {
		if rest, ok := strings.CutPrefix(m, "/"); ok {
			svc, method, ok := strings.Cut(rest, "/")
			if !ok || svc == "" || method == "" || strings.Contains(method, "/") {
				return nil, fmt.Errorf("idempotent method %q is not /package.Service/Method", m)
			}
			out = append(out, methodNameJSON{Service: svc, Method: method})
			continue
		}
		if m == "" || strings.ContainsAny(m, "/ ") {
			return nil, fmt.Errorf("idempotent service %q is not package.Service (or give /package.Service/Method)", m)
		}
		out = append(out, methodNameJSON{Service: m})
	}
	return out, nil
}

func (p RetryPolicy) json() (*retryPolicyJSON, error) {
	var errs []error
	if p.MaxAttempts < 2 || p.MaxAttempts > 5 {
		errs = append(errs, fmt.Errorf("retry MaxAttempts %d must be 2 to 5 (grpc-go caps it at 5)", p.MaxAttempts))
	}
	if p.InitialBackoff <= 0 || p.MaxBackoff < p.InitialBackoff {
		errs = append(errs, fmt.Errorf("retry backoff %v..%v: both must be positive, the first not above the second", p.InitialBackoff, p.MaxBackoff))
	}
	if !(p.BackoffMultiplier > 0) || math.IsInf(p.BackoffMultiplier, 1) {
		// !(> 0) rather than <= 0: NaN is neither.
		errs = append(errs, fmt.Errorf("retry BackoffMultiplier %v must be a positive finite number", p.BackoffMultiplier))
	}
	if len(p.Codes) == 0 {
		errs = append(errs, errors.New("retry Codes is empty"))
	}
	var names []string
	for _, c := range p.Codes {
		if c == codes.OK || c > codes.Unauthenticated {
			errs = append(errs, fmt.Errorf("retry code %v cannot be retried", c))
			continue
		}
		names = append(names, jsonconf.CodeName(c))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &retryPolicyJSON{
		MaxAttempts:          p.MaxAttempts,
		InitialBackoff:       seconds(p.InitialBackoff),
		MaxBackoff:           seconds(p.MaxBackoff),
		BackoffMultiplier:    p.BackoffMultiplier,
		RetryableStatusCodes: names,
	}, nil
}

// seconds renders a duration as the service config wants it: "0.02s".
func seconds(d time.Duration) string {
	return fmt.Sprintf("%gs", d.Seconds())
}
