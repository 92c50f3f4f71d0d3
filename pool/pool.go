// Package pool is a grpc.ClientConnInterface over N *grpc.ClientConn, each
// with its own connection, for code that cannot change its service config.
//
// Behind one virtual IP (a Kubernetes ClusterIP, a cloud TCP load
// balancer), one ClientConn means one connection and so one backend. A
// Pool of N ClientConns to the same target makes N connections, which the
// L4 balancer spreads over its backends; the Pool hands out calls in turn.
// Generated clients take it where they take a *grpc.ClientConn:
//
//	p, err := pool.Dial("backend:50051", 8, grpc.WithTransportCredentials(creds))
//	client := echopb.NewEchoClient(p)
//
// Where the service config can be set, prefer the "pool" balancing policy
// (package balancer/pool): one ClientConn, N SubConns, the same effect with
// one channel's worth of resolver and idle handling.
package pool

import (
	"context"
	"fmt"
	"sync/atomic"

	"google.golang.org/grpc"
)

// Pool spreads calls over its ClientConns in turn. It is safe for
// concurrent use.
type Pool struct {
	conns []*grpc.ClientConn
	next  atomic.Uint32
}

var _ grpc.ClientConnInterface = (*Pool)(nil)

// New makes a Pool of n ClientConns made by dial(0) ... dial(n-1). If a dial
// fails, the ones made so far are closed and the error is returned.
func New(n int, dial func(i int) (*grpc.ClientConn, error)) (*Pool, error) {
	if n < 1 {
		return nil, fmt.Errorf("pool: size %d must be at least 1", n)
	}
	p := &Pool{conns: make([]*grpc.ClientConn, 0, n)}
	for i := range n {
		cc, err := dial(i)
		if err != nil {
			_ = p.Close()
			return nil, fmt.Errorf("pool: connection %d of %d: %w", i+1, n, err)
		}
		p.conns = append(p.conns, cc)
	}
	return p, nil
}

// Dial makes a Pool of n grpc.NewClient(target, opts...).
func Dial(target string, n int, opts ...grpc.DialOption) (*Pool, error) {
	return New(n, func(int) (*grpc.ClientConn, error) { return grpc.NewClient(target, opts...) })
}

// Conn returns the next ClientConn in turn.
func (p *Pool) Conn() *grpc.ClientConn {
	return p.conns[int(p.next.Add(1)%uint32(len(p.conns)))]
}

// Num is the number of ClientConns.
func (p *Pool) Num() int { return len(p.conns) }

// Invoke makes a unary call on the next ClientConn.
func (p *Pool) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	return p.Conn().Invoke(ctx, method, args, reply, opts...)
}

// NewStream starts a stream on the next ClientConn.
func (p *Pool) NewStream(ctx context.Context, desc *grpc.StreamDesc, method string, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	return p.Conn().NewStream(ctx, desc, method, opts...)
}

// Close closes every ClientConn and returns the first error.
func (p *Pool) Close() error {
	var first error
	for _, cc := range p.conns {
		if err := cc.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}
