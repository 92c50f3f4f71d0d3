package proxy

import (
	"testing"

	"google.golang.org/grpc/metadata"
)

func TestRouteTableMatch(t *testing.T) {
	var routes []*route
	for _, p := range []string{"/a.Svc/", "/a.Svc/Get", "/a.Svc/GetUser", "/b.Svc/Put", "/c.Svc/Exact"} {
		routes = append(routes, &route{label: p, prefix: p})
	}
	table := newRouteTable(routes)
	for _, tc := range []struct{ method, want string }{
		{"/a.Svc/List", "/a.Svc/"},
		{"/a.Svc/Get", "/a.Svc/Get"},
		{"/a.Svc/GetItem", "/a.Svc/Get"},
		{"/a.Svc/GetUser", "/a.Svc/GetUser"}, // the longest prefix wins
		{"/a.Svc/GetUsers", "/a.Svc/GetUser"},
		{"/b.Svc/Put", "/b.Svc/Put"},
		{"/b.Svc/Get", ""}, // b.Svc has no whole-service route
		{"/c.Svc/Exact", "/c.Svc/Exact"},
		{"/a.Svcx/List", ""},
		{"/a.Sv/List", ""},
		{"/z.Svc/Get", ""},
		{"a.Svc/Get", ""},
		{"/a.Svc", ""},
		{"/", ""},
		{"", ""},
	} {
		got := ""
		if r := table.match(tc.method); r != nil {
			got = r.label
		}
		if got != tc.want {
			t.Errorf("match(%q) = %q, want %q", tc.method, got, tc.want)
		}
	}
	if got := table.services(); len(got) != 3 || got[0] != "a.Svc" || got[2] != "c.Svc" {
		t.Errorf("services() = %v", got)
	}
}

func TestRouteMatchAllocatesNothing(t *testing.T) {
	table := newRouteTable([]*route{{prefix: "/a.Svc/"}, {prefix: "/a.Svc/Get"}})
	if n := testing.AllocsPerRun(100, func() { table.match("/a.Svc/GetUser") }); n != 0 {
		t.Errorf("match allocates %v times", n)
	}
}

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

func TestCheckMethodPath(t *testing.T) {
	for path, ok := range map[string]bool{
		"/a.B/Get":              true,
		"/grpc.testing.S/Empty": true,
		"/S/M":                  true,
		"/a.B/Get/":             false,
		"/a.B/Get/../Delete":    false,
		"/a.B/../c.D/Get":       false,
		"/a.B/.":                false,
		"/../Get":               false,
		"//Get":                 false,
		"/a.B/":                 false,
		"/a.B":                  false,
		"a.B/Get":               false,
		"":                      false,
		"/a.B/Get%2F..":         false,
		"/a.B/Get x":            false,
		"/a.B/Get\x00":          false,
		"/a.B/Get\x7f":          false,
	} {
		err := checkMethodPath(path)
		if (err == nil) != ok {
			t.Errorf("checkMethodPath(%q) = %v, want ok=%v", path, err, ok)
		}
	}
}
