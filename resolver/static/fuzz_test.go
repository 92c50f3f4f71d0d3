package static

import (
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/grpc/resolver"
)

// checkAddrs checks the invariants of a parsed address list: every address
// is valid, canonical (parsing it again gives it back) and listed once.
func checkAddrs(t *testing.T, addrs []string) {
	t.Helper()
	seen := make(map[string]bool)
	for _, a := range addrs {
		if seen[a] {
			t.Errorf("address %q listed twice in %q", a, addrs)
		}
		seen[a] = true
		c, err := canonicalAddr(a)
		if err != nil {
			t.Errorf("result %q does not parse again: %v", a, err)
			continue
		}
		if c != a {
			t.Errorf("result %q is not canonical: parsing it again gives %q", a, c)
		}
		host, port, err := net.SplitHostPort(a)
		if err != nil || host == "" || port == "" || port[0] == '0' {
			t.Errorf("result %q: host %q, port %q, error %v", a, host, port, err)
		}
	}
}

func FuzzParseTarget(f *testing.F) {
	for _, s := range []string{
		"static:///10.0.0.1:50051",
		"static:///10.0.0.1:50051,10.0.0.2:50051,[::1]:50051",
		"static:///db.internal:5432, localhost:1,",
		"static:///[fe80::1%25eth0]:80",
		"static:a:1,b:2",
		"static:///?file=/etc/backends.txt",
		"static:///?file=/etc/backends.txt&interval=500ms",
		"static:///?file=b.txt&interval=1h30m",
		"static://host/a:1",
		"static:///a:1#frag",
		"static:///?file=/a&file=/b",
		"static:///?colour=red",
		"static:///10.0.0.1",
		"static:///::1:80",
		"static:///[::1",
		"static:///a:99999",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := url.Parse(s)
		if err != nil {
			return // grpc.NewClient rejects such targets before any resolver.
		}
		cfg, err := parseTarget(resolver.Target{URL: *u})
		if err != nil {
			if !strings.HasPrefix(err.Error(), "static: ") {
				t.Errorf("error %q does not start with %q", err, "static: ")
			}
			return
		}
		switch {
		case cfg.file == "" && len(cfg.addrs) == 0:
			t.Errorf("parseTarget(%q) = %+v: neither addresses nor a file", s, cfg)
		case cfg.file != "" && cfg.addrs != nil:
			t.Errorf("parseTarget(%q) = %+v: both addresses and a file", s, cfg)
		case cfg.file == "" && cfg.interval != 0:
			t.Errorf("parseTarget(%q) = %+v: an interval without a file", s, cfg)
		case cfg.interval != 0 && cfg.interval < MinInterval:
			t.Errorf("parseTarget(%q) = %+v: interval below %v", s, cfg, MinInterval)
		}
		checkAddrs(t, cfg.addrs)
	})
}

var lineErr = regexp.MustCompile(`^static: line ([0-9]+) of backends\.txt: `)

func FuzzParseList(f *testing.F) {
	for _, s := range []string{
		"",
		"10.0.0.1:50051\n10.0.0.2:50051\n",
		"# backends\n  10.0.0.1:50051  # first\n10.0.0.2:50051, 10.0.0.3:50051,\n\n[::1]:50051#v6\n",
		"\uFEFFa:1\r\nb:2\r\n",
		"a:1,a:01,[::1]:1,[0::1]:1",
		"[fe80::1%eth0]:80",
		"10.0.0.1\n",
		"a:1 b:2",
		"fd00::1:80",
		"[10.0.0.1]:80",
		"10.0.0.256:1",
		"a..b:1",
		"a:0\na:65536",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		addrs, err := parseList(text, "backends.txt")
		if err != nil {
			m := lineErr.FindStringSubmatch(err.Error())
			if m == nil {
				t.Fatalf("error %q does not name the line and file", err)
			}
			line, err2 := strconv.Atoi(m[1])
			if lines := strings.Count(text, "\n") + 1; err2 != nil || line < 1 || line > lines {
				t.Errorf("error %q names a line outside 1..%d", err, lines)
			}
			return
		}
		checkAddrs(t, addrs)
		// The result, written back as a file (either way), parses to itself.
		for _, sep := range []string{"\n", ","} {
			again, err := parseList(strings.Join(addrs, sep), "backends.txt")
			if err != nil || !slices.Equal(again, addrs) {
				t.Errorf("parseList(%q) = %q, %v; want %q", strings.Join(addrs, sep), again, err, addrs)
			}
		}
	})
}
