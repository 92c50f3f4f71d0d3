package pool

import (
	"google.golang.org/grpc/resolver"

	"github.com/grpclb/grpclb/internal/balancertest"
)

func stateOf(eps []resolver.Endpoint) resolver.State { return resolver.State{Endpoints: eps} }

func isShutdown(sc *balancertest.SubConn) bool { return sc.IsShutdown() }
