package routing_test

import (
	"testing"

	"github.com/grpclb/grpclb/proxy/internal/routing"
)

func identity(s string) string { return s }

func TestMatch(t *testing.T) {
	table := routing.NewTable([]string{"/a.Svc/", "/a.Svc/Get", "/a.Svc/GetUser", "/b.Svc/Put", "/c.Svc/Exact"}, identity)
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
		got, ok := table.Match(tc.method)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("Match(%q) = %q, %v, want %q", tc.method, got, ok, tc.want)
		}
	}
	if got := table.Services(); len(got) != 3 || got[0] != "a.Svc" || got[2] != "c.Svc" {
		t.Errorf("Services() = %v", got)
	}
	if got := table.Routes("a.Svc"); len(got) != 3 || got[0] != "/a.Svc/" {
		t.Errorf(`Routes("a.Svc") = %v, want the whole-service route and two prefixes`, got)
	}
	if !table.Has("b.Svc") || table.Has("z.Svc") {
		t.Errorf("Has(b.Svc) = %v, Has(z.Svc) = %v", table.Has("b.Svc"), table.Has("z.Svc"))
	}
}

func TestMatchAllocatesNothing(t *testing.T) {
	table := routing.NewTable([]string{"/a.Svc/", "/a.Svc/Get"}, identity)
	if n := testing.AllocsPerRun(100, func() { table.Match("/a.Svc/GetUser") }); n != 0 {
		t.Errorf("Match allocates %v times", n)
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
		err := routing.CheckMethodPath(path)
		if (err == nil) != ok {
			t.Errorf("CheckMethodPath(%q) = %v, want ok=%v", path, err, ok)
		}
	}
}
