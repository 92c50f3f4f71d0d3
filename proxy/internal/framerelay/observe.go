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
	// CallEnded: a call CallStarted announced ended, as e says. Each
	// call ends once.
	CallEnded(e CallEnd)
	// Unrouted: a call was refused (UNIMPLEMENTED): no route matched its
	// method, or its path was not /service/method.
	Unrouted()
	// EndpointGone: cluster's policy let go of its connection to addr
	// (the backend left the resolver's set, typically).
	EndpointGone(cluster, addr string)
}

// CallEnd is how a routed call ended.
type CallEnd struct {
	Route  int    // its route's index in Config.Routes
	Method string // its :path, /service/method
	// Client is the client's address (host:port); Upstream the
	// backend's it reached, "" if none.
	Client, Upstream string
	// Code is the status its client got (or would read from a reset).
	Code codes.Code
	// Took is the time from its headers' arrival to its end (zero unless
	// the relay has an Observer).
	Took time.Duration
	// RequestBytes and ResponseBytes are the sizes of the messages
	// relayed each way, as sent (compressed, if they were), without
	// their 5-byte prefixes.
	RequestBytes, ResponseBytes int64
}

// noObserver observes nothing.
type noObserver struct{}

func (noObserver) CallStarted(int)             {}
func (noObserver) CallEnded(CallEnd)           {}
func (noObserver) Unrouted()                   {}
func (noObserver) EndpointGone(string, string) {}
