package proxy

import (
	"strings"

	"google.golang.org/grpc/metadata"
)

// Headers that are not forwarded: HTTP/2 pseudo-headers, hop-by-hop
// headers, and the ones gRPC itself derives for each hop (content type,
// user agent, encodings, the timeout, which becomes the upstream call's
// deadline, and the status, which the proxy re-sends from the call's
// result).
var hopHeaders = map[string]bool{
	"connection":              true,
	"keep-alive":              true,
	"proxy-connection":        true,
	"transfer-encoding":       true,
	"upgrade":                 true,
	"te":                      true,
	"host":                    true,
	"content-type":            true,
	"user-agent":              true,
	"grpc-timeout":            true,
	"grpc-encoding":           true,
	"grpc-accept-encoding":    true,
	"grpc-message-type":       true,
	"grpc-status":             true,
	"grpc-message":            true,
	"grpc-status-details-bin": true,
	// The client's retry count is about its hop.
	"grpc-previous-rpc-attempts": true,
}

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
