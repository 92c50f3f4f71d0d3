package proxy

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/resolver"
)

// upstream is a cluster's grpc.ClientConn, shared by every call routed to
// the cluster. It is reference counted: the config version that holds it
// owns one reference and each call in flight one more, so that a reload
// that drops or changes the cluster closes the connection only once its
// last call has finished.
type upstream struct {
	name string
	key  [sha256.Size]byte // equal keys: the same cluster, kept across reloads
	cc   *grpc.ClientConn
	refs atomic.Int64
	idle func(*upstream) // called once refs reach zero: closes cc

	lastLog   atomic.Int64 // unix nanoseconds of the last "no healthy upstream" log
	connState atomic.Int32 // cc's connectivity.State, kept by watch

	lastUnreached atomic.Pointer[Unreached] // for /clusters
	disc          discovery                 // what its resolver last said
	endpoints     *endpointTable            // what its policy's subchannels do
}

// logEvery bounds how often a cluster logs that calls found no healthy
// upstream: a cluster that is down fails every call.
const logEvery = 10 * time.Second

// logDue reports whether a "no healthy upstream" log is due at now, and
// if so counts it as made.
func (u *upstream) logDue(now time.Time) bool {
	last := u.lastLog.Load()
	return now.UnixNano()-last >= int64(logEvery) && u.lastLog.CompareAndSwap(last, now.UnixNano())
}

// acquire takes a reference for a call; it fails once the upstream is
// closing, and the caller then looks the route up again in the newer
// config.
func (u *upstream) acquire() bool {
	for {
		n := u.refs.Load()
		if n <= 0 {
			return false
		}
		if u.refs.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

func (u *upstream) release() {
	if u.refs.Add(-1) == 0 {
		u.idle(u)
	}
}

// upstreamKey identifies what a ClientConn was built from: the cluster,
// the limits and the contents of its certificate files.
func upstreamKey(cl *Cluster, lim Limits, tlsMaterial []byte) [sha256.Size]byte {
	sc, _ := cl.Policy.ServiceConfig() // Validate has checked it
	b, _ := json.Marshal(struct {
		C *Cluster
		L Limits
		P string
	}{cl, lim, sc})
	h := sha256.New()
	h.Write(b)
	h.Write(tlsMaterial)
	var k [sha256.Size]byte
	copy(k[:], h.Sum(nil))
	return k
}

// upstreamSpec is a cluster ready to dial: its certificate files read.
type upstreamSpec struct {
	name  string
	cl    *Cluster
	lim   Limits
	creds credentials.TransportCredentials
	key   [sha256.Size]byte
}

// prepareUpstream reads a cluster's certificate files and computes its key.
func prepareUpstream(name string, cl *Cluster, lim Limits) (upstreamSpec, error) {
	s := upstreamSpec{name: name, cl: cl, lim: lim, creds: insecure.NewCredentials()}
	var material []byte
	if cl.TLS != nil {
		var err error
		if s.creds, material, err = loadUpstreamTLS(cl.TLS); err != nil {
			return s, fmt.Errorf("clusters.%s.%w", name, err)
		}
	}
	s.key = upstreamKey(cl, lim, material)
	return s, nil
}

// dial makes the cluster's ClientConn and starts connecting it, so that
// the first calls do not wait for connections.
// dial makes the cluster's ClientConn: its resolver comes from builders
// or the registry, wrapped so that u.disc follows it, and left hears of
// the endpoints that leave.
func (s upstreamSpec) dial(extra []grpc.DialOption, builders []resolver.Builder, left func(cluster string, addrs []string)) (*upstream, error) {
	sc, err := s.cl.Policy.ServiceConfig()
	if err != nil {
		return nil, err
	}
	u := &upstream{name: s.name, key: s.key, endpoints: newEndpointTable()}
	if sc, err = watchedServiceConfig(sc, u.endpoints.id); err != nil {
		u.endpoints.forget()
		return nil, fmt.Errorf("clusters.%s.policy: %w", s.name, err)
	}
	b, target := resolverFor(s.cl.Target, builders)
	watched := clusterResolver{inner: b, d: &u.disc, left: func(addrs []string) { left(s.name, addrs) }}
	opts := append([]grpc.DialOption{
		grpc.WithResolvers(watched),
		grpc.WithTransportCredentials(s.creds),
		grpc.WithDefaultServiceConfig(sc),
		grpc.WithDefaultCallOptions(
			grpc.MaxCallRecvMsgSize(s.lim.MaxResponseBytes),
			grpc.MaxCallSendMsgSize(s.lim.MaxRequestBytes),
		),
		grpc.WithMaxHeaderListSize(s.lim.MaxHeaderListBytes),
		grpc.WithUserAgent("grpclb-proxy"),
	}, extra...)
	if k := s.cl.Keepalive; k != nil {
		opts = append(opts, grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: time.Duration(k.Time), Timeout: time.Duration(k.Timeout)}))
	}
	cc, err := grpc.NewClient(target, opts...)
	if err != nil {
		u.endpoints.forget()
		return nil, fmt.Errorf("clusters.%s: %w", s.name, err)
	}
	cc.Connect()
	u.cc = cc
	return u, nil
}
