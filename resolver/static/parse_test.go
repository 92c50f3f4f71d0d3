package static

import (
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/resolver"

	"github.com/grpclb/grpclb/internal/resolvertest"
)

func mustTarget(t testing.TB, s string) resolver.Target {
	t.Helper()
	return resolver.Target{URL: resolvertest.URL(t, s)}
}

func TestParseTarget(t *testing.T) {
	tests := []struct {
		target string
		want   config
	}{
		{"static:///10.0.0.1:50051", config{addrs: []string{"10.0.0.1:50051"}}},
		{
			"static:///10.0.0.1:50051,10.0.0.2:50051,[::1]:50051",
			config{addrs: []string{"10.0.0.1:50051", "10.0.0.2:50051", "[::1]:50051"}},
		},
		{
			"static:///backend-1.internal:443,localhost:8080",
			config{addrs: []string{"backend-1.internal:443", "localhost:8080"}},
		},
		{
			"static:///10.0.0.1:50051,10.0.0.2:50051,10.0.0.1:50051",
			config{addrs: []string{"10.0.0.1:50051", "10.0.0.2:50051"}},
		},
		{"static:///10.0.0.1:50051, 10.0.0.2:50051,", config{addrs: []string{"10.0.0.1:50051", "10.0.0.2:50051"}}},
		{"static:///[0:0::1]:080,[::1]:80", config{addrs: []string{"[::1]:80"}}},
		{"static:///[fe80::1%25eth0]:80", config{addrs: []string{"[fe80::1%eth0]:80"}}},
		{"static:///a:1%2Cb:2", config{addrs: []string{"a:1", "b:2"}}},
		{"static:a:1,b:2", config{addrs: []string{"a:1", "b:2"}}},
		{"static:///?file=/etc/backends.txt", config{file: "/etc/backends.txt"}},
		{"static:///?file=backends.txt", config{file: "backends.txt"}},
		{"static:///?file=/etc/b.txt&interval=500ms", config{file: "/etc/b.txt", interval: 500 * time.Millisecond}},
		{"static:///?interval=50ms&file=/etc/b.txt", config{file: "/etc/b.txt", interval: 50 * time.Millisecond}},
		{"static:///?file=%2Ftmp%2Fa%20b.txt", config{file: "/tmp/a b.txt"}},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			got, err := parseTarget(mustTarget(t, tt.target))
			if err != nil {
				t.Fatalf("parseTarget(%q) error: %v", tt.target, err)
			}
			if !slices.Equal(got.addrs, tt.want.addrs) || got.file != tt.want.file || got.interval != tt.want.interval {
				t.Errorf("parseTarget(%q) = %+v, want %+v", tt.target, got, tt.want)
			}
		})
	}
}

func TestParseTargetErrors(t *testing.T) {
	tests := []struct {
		target  string
		wantErr string
	}{
		{"static:///", `static: target "static:///": no addresses; want static:///host:port[,host:port...] or static:///?file=PATH`},
		{"static:///,,", `static: target "static:///,,": no addresses; want static:///host:port[,host:port...] or static:///?file=PATH`},
		{"static:///10.0.0.1", `static: target "static:///10.0.0.1": "10.0.0.1" has no port`},
		{"static:///10.0.0.1:50051,10.0.0.2", `static: target "static:///10.0.0.1:50051,10.0.0.2": "10.0.0.2" has no port`},
		{"static:///10.0.0.1:", `static: target "static:///10.0.0.1:": "10.0.0.1:" has an empty port`},
		{"static:///:50051", `static: target "static:///:50051": ":50051" has no host`},
		{"static:///10.0.0.1:http", `static: target "static:///10.0.0.1:http": "10.0.0.1:http" has a non-numeric port "http"`},
		{"static:///10.0.0.1:+80", `static: target "static:///10.0.0.1:+80": "10.0.0.1:+80" has a non-numeric port "+80"`},
		{"static:///10.0.0.1:0", `static: target "static:///10.0.0.1:0": "10.0.0.1:0" has port 0, out of the range 1-65535`},
		{"static:///10.0.0.1:65536", `static: target "static:///10.0.0.1:65536": "10.0.0.1:65536" has port 65536, out of the range 1-65535`},
		{"static:///::1:80", `static: target "static:///::1:80": "::1:80" is not host:port; put IPv6 addresses in brackets, e.g. [::1]:50051`},
		{"static:///[::1", `static: target "static:///[::1": "[::1" is not host:port: missing ']' in address`},
		{"static:///[10.0.0.1]:80", `static: target "static:///[10.0.0.1]:80": "[10.0.0.1]:80" has brackets around "10.0.0.1", which is not an IPv6 address`},
		{"static:///[db]:80", `static: target "static:///[db]:80": "[db]:80" has brackets around "db", which is not an IPv6 address`},
		{"static:///10.0.0.256:80", `static: target "static:///10.0.0.256:80": "10.0.0.256:80" has an invalid host: "10.0.0.256" is not a valid IPv4 address`},
		{"static:///db..internal:80", `static: target "static:///db..internal:80": "db..internal:80" has an invalid host: host name "db..internal" has an empty label`},
		{"static:///db%2Finternal:80", `static: target "static:///db%2Finternal:80": "db/internal:80" has an invalid host: host name "db/internal" has the character '/'`},
		{"static:///a:1 b:2", `static: target "static:///a:1%20b:2": "a:1 b:2" contains white space; separate addresses with commas or new lines`},
		{"static://10.0.0.1:50051", `static: target "static://10.0.0.1:50051" has an authority ("10.0.0.1:50051"), which is not supported; use three slashes, e.g. static:///10.0.0.1:50051`},
		{"static:///10.0.0.1:50051#x", `static: target "static:///10.0.0.1:50051#x" has a fragment ("x"); escape '#' as %23 if it belongs to the target`},
		{"static:///?file=/a&colour=red", `static: target "static:///?file=/a&colour=red": unknown query parameter "colour" (known: file, interval)`},
		{"static:///10.0.0.1:80?colour=red", `static: target "static:///10.0.0.1:80?colour=red": unknown query parameter "colour" (known: file, interval)`},
		{"static:///?file=/a&file=/b", `static: target "static:///?file=/a&file=/b": query parameter "file" is given 2 times`},
		{"static:///?file=", `static: target "static:///?file=": query parameter "file" is empty`},
		{"static:///?file", `static: target "static:///?file": query parameter "file" is empty`},
		{"static:///10.0.0.1:80?interval=1s", `static: target "static:///10.0.0.1:80?interval=1s": query parameter "interval" needs "file"`},
		{"static:///10.0.0.1:80?file=/a", `static: target "static:///10.0.0.1:80?file=/a" has both addresses ("10.0.0.1:80") and a file; use one or the other`},
		{"static:///?file=/a&interval=10ms", `static: target "static:///?file=/a&interval=10ms": interval 10ms is below the minimum of 50ms`},
		{"static:///?file=/a&interval=-1s", `static: target "static:///?file=/a&interval=-1s": interval -1s is below the minimum of 50ms`},
		{"static:///?file=/a&interval=soon", `static: target "static:///?file=/a&interval=soon": bad interval "soon": want a duration such as 500ms or 2s`},
		{"static:///?file=/a;b", `static: target "static:///?file=/a;b": bad query: invalid semicolon separator in query`},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			got, err := parseTarget(mustTarget(t, tt.target))
			if err == nil {
				t.Fatalf("parseTarget(%q) = %+v, want error %q", tt.target, got, tt.wantErr)
			}
			if err.Error() != tt.wantErr {
				t.Errorf("parseTarget(%q) error:\n got: %s\nwant: %s", tt.target, err, tt.wantErr)
			}
		})
	}
}

func TestParseList(t *testing.T) {
	tests := []struct {
		name string
		text string
		want []string
	}{
		{"empty", "", []string{}},
		{"only comments and blanks", "# nothing here\n\n   \n\t# still nothing\n", []string{}},
		{"one per line", "10.0.0.1:50051\n10.0.0.2:50051\n", []string{"10.0.0.1:50051", "10.0.0.2:50051"}},
		{"no final newline", "10.0.0.1:50051\n10.0.0.2:50051", []string{"10.0.0.1:50051", "10.0.0.2:50051"}},
		{"CRLF", "10.0.0.1:50051\r\n10.0.0.2:50051\r\n", []string{"10.0.0.1:50051", "10.0.0.2:50051"}},
		{"byte order mark", "\uFEFF10.0.0.1:50051\n", []string{"10.0.0.1:50051"}},
		{
			"comments, commas and white space",
			"# backends\n  10.0.0.1:50051  # first\n10.0.0.2:50051, 10.0.0.3:50051,\n\n[::1]:50051#v6\n",
			[]string{"10.0.0.1:50051", "10.0.0.2:50051", "10.0.0.3:50051", "[::1]:50051"},
		},
		{
			"duplicates keep the first",
			"10.0.0.2:1\n10.0.0.1:1\n10.0.0.2:1\n10.0.0.1:01,[::1]:1,[0::1]:1\n",
			[]string{"10.0.0.2:1", "10.0.0.1:1", "[::1]:1"},
		},
		{"host names as given", "Backend-1.example.com:443\nlocalhost:80\nfqdn.example.:1\n", []string{"Backend-1.example.com:443", "localhost:80", "fqdn.example.:1"}},
		{"port bounds", "a:1\na:65535\n", []string{"a:1", "a:65535"}},
		{"ports in canonical form", "a:080\na:80\n10.0.0.1:0443\n", []string{"a:80", "10.0.0.1:443"}},
		{"IPv4-mapped IPv6", "[::ffff:10.0.0.1]:80", []string{"[::ffff:10.0.0.1]:80"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseList(tt.text, "backends.txt")
			if err != nil {
				t.Fatalf("parseList(%q) error: %v", tt.text, err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("parseList(%q) = %q, want %q", tt.text, got, tt.want)
			}
		})
	}
}

func TestParseListErrors(t *testing.T) {
	tests := []struct {
		name    string
		text    string
		wantErr string
	}{
		{"no port", "10.0.0.1:1\n\n10.0.0.1\n", `static: line 3 of /etc/x: "10.0.0.1" has no port`},
		{"no port IPv6", "[::1]\n", `static: line 1 of /etc/x: "[::1]" has no port`},
		{"second on a line", "10.0.0.1:1, 10.0.0.2\n", `static: line 1 of /etc/x: "10.0.0.2" has no port`},
		{"bad after comment", "# 10.0.0.1\n10.0.0.1:x # bad\n", `static: line 2 of /etc/x: "10.0.0.1:x" has a non-numeric port "x"`},
		{"port too big", "a:99999\n", `static: line 1 of /etc/x: "a:99999" has port 99999, out of the range 1-65535`},
		{"port overflows", "a:99999999999999999999\n", `static: line 1 of /etc/x: "a:99999999999999999999" has port 99999999999999999999, out of the range 1-65535`},
		{"space separated", "a:1 b:2\n", `static: line 1 of /etc/x: "a:1 b:2" contains white space; separate addresses with commas or new lines`},
		{"unbracketed IPv6", "fd00::1:80\n", `static: line 1 of /etc/x: "fd00::1:80" is not host:port; put IPv6 addresses in brackets, e.g. [::1]:50051`},
		{"URL, not address", "http://a:80\n", `static: line 1 of /etc/x: "http://a:80" is not host:port; put IPv6 addresses in brackets, e.g. [::1]:50051`},
		{"bad character", "a*b:80\n", `static: line 1 of /etc/x: "a*b:80" has an invalid host: host name "a*b" has the character '*'`},
		{"non-ASCII host", "bäckend:80\n", `static: line 1 of /etc/x: "bäckend:80" has an invalid host: host name "bäckend" has the character 'ä'`},
		{"bad IPv4", "10.0.0.1.5:80\n", `static: line 1 of /etc/x: "10.0.0.1.5:80" has an invalid host: "10.0.0.1.5" is not a valid IPv4 address`},
		{"bad zone", "[fe80::1%a/b]:80\n", `static: line 1 of /etc/x: "[fe80::1%a/b]:80" has an invalid IPv6 zone "a/b"`},
		{"long label", strings.Repeat("a", 64) + ":1", `static: line 1 of /etc/x: "` + strings.Repeat("a", 64) + `:1" has an invalid host: host name "` + strings.Repeat("a", 64) + `" has a label longer than 63 bytes`},
		{"long name", strings.Repeat("a.", 127) + "ab:1", `static: line 1 of /etc/x: "` + strings.Repeat("a.", 127) + `ab:1" has an invalid host: host name is 256 bytes long, more than 253`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseList(tt.text, "/etc/x")
			if err == nil {
				t.Fatalf("parseList(%q) = %q, want error %q", tt.text, got, tt.wantErr)
			}
			if err.Error() != tt.wantErr {
				t.Errorf("parseList(%q) error:\n got: %s\nwant: %s", tt.text, err, tt.wantErr)
			}
		})
	}
}
