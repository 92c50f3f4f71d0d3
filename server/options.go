package server

import (
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
)

// Config sets the connection options. A zero field takes its default; a
// negative MaxConnectionAge turns ageing off.
type Config struct {
	// MaxConnectionAge is how long a connection may live before the server
	// sends GOAWAY (grpc-go adds ±10% jitter). Default 1m.
	MaxConnectionAge time.Duration
	// MaxConnectionAgeGrace is how long calls in flight on an aged
	// connection may take to finish before it is closed. Default 20s; raise
	// it for long streams.
	MaxConnectionAgeGrace time.Duration
	// KeepaliveTime: the server pings a client after this much silence.
	// Default 30s.
	KeepaliveTime time.Duration
	// KeepaliveTimeout: a client that does not answer a ping within this is
	// dropped. Default 10s.
	KeepaliveTimeout time.Duration
	// MinPingInterval is the shortest client keepalive interval accepted;
	// clients that ping more often get GOAWAY. Default 5s.
	MinPingInterval time.Duration
	// MaxConnectionIdle closes (GOAWAY) a connection that has had no call
	// for this long. Default 0: idle connections stay open.
	MaxConnectionIdle time.Duration
	// ForbidPingsWithoutStream refuses client pings on connections with no
	// call in flight. Default false: idle clients may ping, so they can
	// notice a dead server before they need it.
	ForbidPingsWithoutStream bool
}

// Defaults for Config.
const (
	DefaultMaxConnectionAge      = time.Minute
	DefaultMaxConnectionAgeGrace = 20 * time.Second
	DefaultKeepaliveTime         = 30 * time.Second
	DefaultKeepaliveTimeout      = 10 * time.Second
	DefaultMinPingInterval       = 5 * time.Second
)

func (c Config) withDefaults() (Config, error) {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.MaxConnectionAge, DefaultMaxConnectionAge)
	def(&c.MaxConnectionAgeGrace, DefaultMaxConnectionAgeGrace)
	def(&c.KeepaliveTime, DefaultKeepaliveTime)
	def(&c.KeepaliveTimeout, DefaultKeepaliveTimeout)
	def(&c.MinPingInterval, DefaultMinPingInterval)
	var errs []error
	for _, f := range []struct {
		name string
		v    time.Duration
	}{
		{"MaxConnectionAgeGrace", c.MaxConnectionAgeGrace},
		{"KeepaliveTime", c.KeepaliveTime},
		{"KeepaliveTimeout", c.KeepaliveTimeout},
		{"MinPingInterval", c.MinPingInterval},
		{"MaxConnectionIdle", c.MaxConnectionIdle},
	} {
		if f.v < 0 {
			errs = append(errs, fmt.Errorf("%s %v is negative", f.name, f.v))
		}
	}
	if c.KeepaliveTime > 0 && c.KeepaliveTime < time.Second {
		errs = append(errs, fmt.Errorf("KeepaliveTime %v is below 1s (grpc-go raises it to 1s)", c.KeepaliveTime))
	}
	if err := errors.Join(errs...); err != nil {
		return c, fmt.Errorf("server: %w", err)
	}
	return c, nil
}

// params returns the keepalive settings Options installs.
func (c Config) params() (keepalive.ServerParameters, keepalive.EnforcementPolicy, error) {
	c, err := c.withDefaults()
	if err != nil {
		return keepalive.ServerParameters{}, keepalive.EnforcementPolicy{}, err
	}
	sp := keepalive.ServerParameters{
		MaxConnectionAgeGrace: c.MaxConnectionAgeGrace,
		Time:                  c.KeepaliveTime,
		Timeout:               c.KeepaliveTimeout,
		MaxConnectionIdle:     c.MaxConnectionIdle,
	}
	if c.MaxConnectionAge > 0 {
		sp.MaxConnectionAge = c.MaxConnectionAge
	}
	ep := keepalive.EnforcementPolicy{MinTime: c.MinPingInterval, PermitWithoutStream: !c.ForbidPingsWithoutStream}
	return sp, ep, nil
}

// Options returns grpc.ServerOptions that age connections and set
// keepalive as cfg says. Pass them to grpc.NewServer.
func Options(cfg Config) ([]grpc.ServerOption, error) {
	sp, ep, err := cfg.params()
	if err != nil {
		return nil, err
	}
	return []grpc.ServerOption{grpc.KeepaliveParams(sp), grpc.KeepaliveEnforcementPolicy(ep)}, nil
}
