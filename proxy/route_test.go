package proxy

import (
	"testing"

	"google.golang.org/grpc/metadata"
)

func TestStripHopHeaders(t *testing.T) {
	md := metadata.MD{
		":authority": {"x"}, "content-type": {"application/grpc"}, "user-agent": {"ua"}, "te": {"trailers"},
		"grpc-timeout": {"1S"}, "grpc-accept-encoding": {"gzip"}, "connection": {"close"}, "grpc-status-details-bin": {"x"},
		"x-keep": {"1"}, "x-keep-bin": {"\x00"}, "grpc-trace-bin": {"t"}, "authorization": {"Bearer t"},
	}
	stripHopHeaders(md)
	want := []string{"x-keep", "x-keep-bin", "grpc-trace-bin", "authorization"}
	if len(md) != len(want) {
		t.Errorf("left %v", md)
	}
	for _, k := range want {
		if _, ok := md[k]; !ok {
			t.Errorf("%s was stripped", k)
		}
	}
}

func TestContentSubtype(t *testing.T) {
	for in, want := range map[string]string{
		"application/grpc":       "",
		"application/grpc+proto": "proto",
		"application/grpc+JSON":  "json",
		"text/plain":             "",
	} {
		if got := contentSubtype(metadata.MD{"content-type": {in}}); got != want {
			t.Errorf("contentSubtype(%q) = %q, want %q", in, got, want)
		}
	}
	if got := contentSubtype(metadata.MD{}); got != "" {
		t.Errorf("no content-type: %q", got)
	}
}
