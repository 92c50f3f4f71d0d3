package grpclb

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"

	"github.com/grpclb/grpclb/hedge"

	_ "google.golang.org/grpc/health" // client-side health checking

	_ "github.com/grpclb/grpclb/balancer/outlier" // the default policy
	_ "github.com/grpclb/grpclb/balancer/p2c"     // its child
	_ "github.com/grpclb/grpclb/resolver/dnspoll" // dnspoll:///
	_ "github.com/grpclb/grpclb/resolver/static"  // static:///
)

// NewClient is grpc.NewClient with what a production client wants,
// configured by opts on top of Defaults:
//
//   - a balancing policy that spreads calls per RPC and steers away from
//     slow or stuck backends, and takes failing ones out of rotation
//     (DefaultLoadBalancingConfig: outlier_ejection over p2c_ewma);
//   - client-side health checking against grpc.health.v1, so a backend that
//     says NOT_SERVING (draining) gets no new calls;
//   - a retry policy for UNAVAILABLE on the methods marked idempotent
//     (WithIdempotent), so a backend that dies under load fails none of
//     them;
//   - keepalive pings that notice a dead connection within seconds (servers
//     must accept them: server.Options does);
//   - with WithHedging, hedging of the idempotent methods' calls;
//
// and any grpc.DialOption given with WithDialOptions (credentials, at
// least). The target is any registered scheme: dnspoll:/// and static:///
// are registered by this package; import resolver/kube, resolver/etcd or
// resolver/consul for theirs.
//
// Plain grpc-go users get the same with grpc.NewClient(target,
// DialOptions(opts...)...), or with the JSON of ServiceConfig.
func NewClient(target string, opts ...Option) (*grpc.ClientConn, error) {
	dopts, err := dialOptions(opts)
	if err != nil {
		return nil, fmt.Errorf("grpclb: %w", err)
	}
	return grpc.NewClient(target, dopts...)
}

// DialOptions returns the grpc.DialOptions NewClient would use: the
// service config, the keepalive parameters and opts' own dial options. It
// fails only on bad options.
func DialOptions(opts ...Option) ([]grpc.DialOption, error) {
	dopts, err := dialOptions(opts)
	if err != nil {
		return nil, fmt.Errorf("grpclb: %w", err)
	}
	return dopts, nil
}

func dialOptions(opts []Option) ([]grpc.DialOption, error) {
	c := Defaults()
	for _, o := range opts {
		o(&c)
	}
	sc, err := c.serviceConfig()
	if err != nil {
		return nil, err
	}
	dopts := []grpc.DialOption{grpc.WithDefaultServiceConfig(sc)}
	if c.HedgingOn {
		if len(c.Idempotent) == 0 {
			return nil, errors.New("hedging needs the idempotent methods (WithIdempotent): only those are hedged")
		}
		var names []string
		for _, m := range c.Idempotent {
			if !strings.HasPrefix(m, "/") {
				m = "/" + m + "/*" // a whole service
			}
			names = append(names, m)
		}
		h, err := hedge.New(append([]hedge.Option{hedge.Methods(names...)}, c.Hedging...)...)
		if err != nil {
			return nil, err
		}
		dopts = append(dopts, grpc.WithChainUnaryInterceptor(h.UnaryClientInterceptor()))
	}
	if c.KeepaliveTime > 0 {
		dopts = append(dopts, grpc.WithKeepaliveParams(keepalive.ClientParameters{
			Time:                c.KeepaliveTime,
			Timeout:             c.KeepaliveTimeout,
			PermitWithoutStream: true,
		}))
	}
	return append(dopts, c.DialOptions...), nil
}

// minKeepaliveTime is grpc-go's floor for client keepalive pings.
const minKeepaliveTime = 10 * time.Second
