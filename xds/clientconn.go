package xds

import (
	"errors"
	"fmt"
	"log/slog"

	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/serviceconfig"
)

// clientConn is the resolver.ClientConn a service's resolver publishes to:
// instead of a channel, the Server's snapshot.
type clientConn struct {
	server  *Server
	service string
	log     *slog.Logger
}

var errNoUsableAddress = errors.New("no usable address")

// UpdateState publishes the resolver's endpoints. An update without a
// usable address (every address malformed) is refused and the last good
// endpoints are kept; an empty one is published: the registry says there
// are none.
func (c *clientConn) UpdateState(state resolver.State) error {
	locs, n, skipped := lbEndpoints(state)
	for _, err := range skipped {
		c.log.Warn("xds: skipping an address the resolver published", "error", err)
	}
	if n == 0 && len(skipped) > 0 {
		c.log.Error("xds: resolver update has no usable address; keeping the last good endpoints", "skipped", len(skipped))
		return fmt.Errorf("xds: service %q: %w", c.service, errNoUsableAddress)
	}
	changed, version, err := c.server.update(c.service, locs)
	if err != nil {
		c.log.Error("xds: cannot publish the resolver's update; keeping the last good endpoints", "error", err)
		return err
	}
	if changed {
		c.log.Info("xds: endpoints updated", "endpoints", n, "zones", len(locs), "version", version)
	}
	return nil
}

// ReportError logs a resolver's error; the last good endpoints stay
// published.
func (c *clientConn) ReportError(err error) {
	c.log.Warn("xds: resolver error; keeping the last good endpoints", "error", err)
}

// NewAddress publishes addrs, for resolvers written before UpdateState.
func (c *clientConn) NewAddress(addrs []resolver.Address) {
	_ = c.UpdateState(resolver.State{Addresses: addrs})
}

// ParseServiceConfig refuses service configs: the policy comes from the
// Config, and resolvers are built with DisableServiceConfig.
func (c *clientConn) ParseServiceConfig(string) *serviceconfig.ParseResult {
	return &serviceconfig.ParseResult{Err: errors.New("xds: service configs from resolvers are not used")}
}
