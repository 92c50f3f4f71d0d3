package framerelay

import (
	"net"
	"strings"

	"golang.org/x/net/http2/hpack"
)

// HopHeaders are request headers about the client's hop, not relayed:
// HTTP/1 connection headers (HTTP/2 forbids them; a client that sends
// them anyway must not pass them on) and the client's own retry count.
// Unlike grpclb proxy, the relay passes gRPC's content-type, user agent,
// encodings and timeout through untouched: messages cross it as they
// were sent, compressed or not, and the backend applies the deadline.
var HopHeaders = map[string]bool{
	"connection":                 true,
	"keep-alive":                 true,
	"proxy-connection":           true,
	"transfer-encoding":          true,
	"upgrade":                    true,
	"host":                       true,
	"grpc-previous-rpc-attempts": true,
}

// requestHeaders rewrites a call's request headers, in place, for its
// backend: hop headers are dropped and the client's address is appended
// to x-forwarded-for, as HTTP proxies do, so that backends (their logs,
// their rate limits) see who called rather than the relay.
func requestHeaders(fields []hpack.HeaderField, clientIP string) []hpack.HeaderField {
	out := fields[:0]
	forwarded := false
	for _, f := range fields {
		if HopHeaders[f.Name] {
			continue
		}
		if f.Name == "x-forwarded-for" && clientIP != "" {
			if forwarded {
				continue // joined into the first one
			}
			forwarded = true
			f.Value = joinForwarded(fields, clientIP)
		}
		out = append(out, f)
	}
	if !forwarded && clientIP != "" {
		out = append(out, hpack.HeaderField{Name: "x-forwarded-for", Value: clientIP})
	}
	return out
}

// joinForwarded is every x-forwarded-for value of fields, then ip,
// joined with ", ".
func joinForwarded(fields []hpack.HeaderField, ip string) string {
	var b strings.Builder
	for _, f := range fields {
		if f.Name == "x-forwarded-for" {
			b.WriteString(f.Value)
			b.WriteString(", ")
		}
	}
	b.WriteString(ip)
	return b.String()
}

// hostOf is the IP address of a peer's address ("" if unknown).
func hostOf(a net.Addr) string {
	if a == nil {
		return ""
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}
