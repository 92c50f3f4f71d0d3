package framerelay

import (
	"testing"
	"time"

	"golang.org/x/net/http2/hpack"
)

func TestTimeoutEncoding(t *testing.T) {
	for _, tc := range []struct {
		in   time.Duration
		want string
	}{
		{300 * time.Millisecond, "300m"},
		{1500 * time.Microsecond, "2m"}, // rounded up: never shorter than asked
		{time.Hour, "3600000m"},
		{48 * time.Hour, "172800S"},
		{5000 * time.Hour, "18000000S"},
		{50000 * time.Hour, "3000000M"},
	} {
		if got := encodeTimeout(tc.in); got != tc.want {
			t.Errorf("encodeTimeout(%v) = %q, want %q", tc.in, got, tc.want)
		}
		if d, ok := parseTimeout(encodeTimeout(tc.in)); !ok || d < tc.in {
			t.Errorf("parseTimeout(encodeTimeout(%v)) = %v, %v", tc.in, d, ok)
		}
	}
	for _, bad := range []string{"", "1", "m", "123456789m", "-1m", "10x", "1.5S"} {
		if _, ok := parseTimeout(bad); ok {
			t.Errorf("parseTimeout(%q) accepted", bad)
		}
	}
}

func TestCapTimeout(t *testing.T) {
	for _, tc := range []struct {
		name   string
		header string // "" for none
		want   string
		wantD  time.Duration
	}{
		{"none", "", "200m", 200 * time.Millisecond},
		{"later", "10S", "200m", 200 * time.Millisecond},
		{"sooner", "50m", "50m", 50 * time.Millisecond},
		{"malformed", "soon", "200m", 200 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fields := []hpack.HeaderField{{Name: ":path", Value: "/a.B/C"}}
			if tc.header != "" {
				fields = append(fields, hpack.HeaderField{Name: "grpc-timeout", Value: tc.header})
			}
			out, d := capTimeout(fields, 200*time.Millisecond)
			n := 0
			for _, f := range out {
				if f.Name == "grpc-timeout" {
					n++
					if f.Value != tc.want {
						t.Errorf("grpc-timeout %q, want %q", f.Value, tc.want)
					}
				}
			}
			if n != 1 || d != tc.wantD {
				t.Errorf("%d grpc-timeout headers, timeout %v; want 1 and %v", n, d, tc.wantD)
			}
		})
	}
}
