package outlier

import "google.golang.org/grpc/balancer"

// maxPickAttempts bounds how many times a pick asks the child's picker
// again when it returned an ejected endpoint.
const maxPickAttempts = 8

// picker wraps the child's picker: it hands gRPC its own SubConns, counts
// every call's outcome for its endpoint, and never returns an ejected
// endpoint.
//
// The child stops picking an ejected endpoint once it hears of the
// ejection, microseconds later; until then (or with a child that ignores
// TRANSIENT_FAILURE) a pick that lands on one asks the child again, and
// if the child keeps returning ejected endpoints the call waits for the
// child's next picker.
type picker struct {
	child balancer.Picker
	b     *outlierBalancer
}

func (p *picker) Pick(info balancer.PickInfo) (balancer.PickResult, error) {
	for range maxPickAttempts {
		res, err := p.child.Pick(info)
		if err != nil {
			return res, err
		}
		sc, ok := res.SubConn.(*subConn)
		if !ok {
			return res, nil // not the child's: cannot happen
		}
		if sc.ejectedCopy.Load() {
			if res.Done != nil {
				res.Done(balancer.DoneInfo{}) // like gRPC for a pick it drops
			}
			continue
		}
		res.SubConn = sc.SubConn
		res.Done = tracker(sc.done, res.Done)
		return res, nil
	}
	return balancer.PickResult{}, balancer.ErrNoSubConnAvailable
}

// tracker returns the Done of a call: the SubConn's own counting Done,
// made once per SubConn so that a pick allocates nothing, followed by the
// child's Done if it has one.
func tracker(done, childDone func(balancer.DoneInfo)) func(balancer.DoneInfo) {
	if childDone == nil {
		return done
	}
	return func(info balancer.DoneInfo) {
		done(info)
		childDone(info)
	}
}

// newEndpoint returns the state of a new endpoint named name.
func (b *outlierBalancer) newEndpoint(name string) *endpoint {
	return &endpoint{name: name}
}

// count counts the outcome of a call to e, and ejects e at once after
// enough consecutive failures.
func (b *outlierBalancer) count(e *endpoint, info balancer.DoneInfo) {
	p := b.params.Load()
	switch p.judge(info) {
	case succeeded:
		e.successes.Add(1)
		if e.consecutive.Load() != 0 {
			e.consecutive.Store(0)
		}
	case failed:
		e.failures.Add(1)
		n := e.consecutive.Add(1)
		if p.consecutiveFailures != 0 && n >= p.consecutiveFailures && !e.ejected.Load() {
			b.ejectForConsecutiveFailures(e, n)
		}
	}
}
