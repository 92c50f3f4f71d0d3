package framerelay

import (
	"time"

	"google.golang.org/grpc/codes"
)

// Observer hears of the relay's calls, for metrics. Its methods are
// called on the relay's hot paths: they must be quick, and safe for
// concurrent use.
type Observer interface {
	// CallStarted: a call was routed by Config.Routes[route].
	CallStarted(route int)
	// CallEnded: a call CallStarted announced ended with code (the
	// status its client got, or would read from a reset), took after
	// it arrived; upstream is the backend address it reached, "" if
	// none. Each call ends once.
	CallEnded(route int, upstream string, code codes.Code, took time.Duration)
	// Unrouted: a call was refused (UNIMPLEMENTED): no route matched its
	// method, or its path was not /service/method.
	Unrouted()
	// EndpointGone: cluster's policy let go of its connection to addr
	// (the backend left the resolver's set, typically).
	EndpointGone(cluster, addr string)
}

// noObserver observes nothing.
type noObserver struct{}

func (noObserver) CallStarted(int)                                  {}
func (noObserver) CallEnded(int, string, codes.Code, time.Duration) {}
func (noObserver) Unrouted()                                        {}
func (noObserver) EndpointGone(string, string)                      {}
