package metrics

import (
	"google.golang.org/grpc/resolver"
)

// WrapResolver returns a builder that builds b's resolvers and counts what
// they publish: updates, errors and the number of endpoints, labelled with
// the target.
func (m *Metrics) WrapResolver(b resolver.Builder) resolver.Builder {
	return &builder{Builder: b, m: m}
}

type builder struct {
	resolver.Builder
	m *Metrics
}

func (b *builder) Build(t resolver.Target, cc resolver.ClientConn, opts resolver.BuildOptions) (resolver.Resolver, error) {
	target := t.URL.String()
	return b.Builder.Build(t, &countingCC{ClientConn: cc, m: b.m, target: target}, opts)
}

// countingCC is the resolver's view of the channel, counting what passes.
type countingCC struct {
	resolver.ClientConn
	m      *Metrics
	target string
}

func (c *countingCC) UpdateState(s resolver.State) error {
	c.m.resolverUpdates.WithLabelValues(c.target).Inc()
	n := len(s.Endpoints)
	if n == 0 {
		n = len(s.Addresses)
	}
	c.m.endpoints.WithLabelValues(c.target).Set(float64(n))
	return c.ClientConn.UpdateState(s)
}

func (c *countingCC) ReportError(err error) {
	c.m.resolverErrors.WithLabelValues(c.target).Inc()
	c.ClientConn.ReportError(err)
}
