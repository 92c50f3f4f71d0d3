package proxy

import (
	"context"
	"maps"
	"net"
	"strings"

	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"

	"github.com/grpclb/grpclb/proxy/internal/framerelay"
)

// hopHeaders are the headers that are not forwarded: HTTP/2
// pseudo-headers, the hop headers the frame relay drops too (HTTP/1
// connection headers, the client's retry count), and the ones gRPC itself
// derives for each hop (content type, user agent, encodings, the timeout,
// which becomes the upstream call's deadline, and the status, which the
// proxy re-sends from the call's result).
var hopHeaders = func() map[string]bool {
	m := maps.Clone(framerelay.HopHeaders)
	for _, h := range []string{
		"te", "content-type", "user-agent", "grpc-timeout", "grpc-encoding", "grpc-accept-encoding",
		"grpc-message-type", "grpc-status", "grpc-message", "grpc-status-details-bin",
	} {
		m[h] = true
	}
	return m
}()

// stripHopHeaders deletes, in place, what must not cross the proxy.
func stripHopHeaders(md metadata.MD) {
	for k := range md {
		if hopHeaders[k] || strings.HasPrefix(k, ":") {
			delete(md, k)
		}
	}
}

// contentSubtype returns the subtype of a request's content-type
// ("application/grpc+json" → "json"); "" for plain application/grpc.
func contentSubtype(md metadata.MD) string {
	v := md["content-type"]
	if len(v) == 0 {
		return ""
	}
	sub, ok := strings.CutPrefix(v[0], "application/grpc+")
	if !ok {
		return ""
	}
	return strings.ToLower(sub)
}

// addForwardedFor appends the client's IP address to the request's
// x-forwarded-for, as HTTP proxies do, so that backends (and their logs
// and rate limits) see who called rather than the proxy.
func addForwardedFor(ctx context.Context, md metadata.MD) {
	p, ok := peer.FromContext(ctx)
	if !ok || p.Addr == nil {
		return
	}
	ip := p.Addr.String()
	if host, _, err := net.SplitHostPort(ip); err == nil {
		ip = host
	}
	if prev := md["x-forwarded-for"]; len(prev) > 0 {
		md["x-forwarded-for"] = []string{strings.Join(prev, ", ") + ", " + ip}
		return
	}
	md["x-forwarded-for"] = []string{ip}
}
