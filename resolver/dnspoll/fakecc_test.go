package dnspoll

import (
	"sync"

	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/serviceconfig"
)

// recordingCC is a resolver.ClientConn that records what a resolver
// publishes, for tests that inspect the published state itself. The
// end-to-end tests use real gRPC clients instead.
type recordingCC struct {
	mu     sync.Mutex
	states []resolver.State
	errs   []error
}

func (c *recordingCC) UpdateState(s resolver.State) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.states = append(c.states, s)
	return nil
}

func (c *recordingCC) ReportError(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.errs = append(c.errs, err)
}

func (c *recordingCC) NewAddress([]resolver.Address) {}

func (c *recordingCC) ParseServiceConfig(string) *serviceconfig.ParseResult { return nil }

func (c *recordingCC) snapshot() (states []resolver.State, errs []error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]resolver.State(nil), c.states...), append([]error(nil), c.errs...)
}
