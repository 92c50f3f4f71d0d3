package targetopt

import (
	"strings"
	"testing"
	"time"
)

func TestSplitHostPort(t *testing.T) {
	tests := []struct {
		in, host, port, wantErr string
	}{
		{in: "10.0.0.1:2379", host: "10.0.0.1", port: "2379"},
		{in: "etcd-1", host: "etcd-1", port: "99"},
		{in: "[::1]:8500", host: "::1", port: "8500"},
		{in: "[::1]", host: "::1", port: "99"},
		{in: "", wantErr: "is empty"},
		{in: "host:", wantErr: "no port"},
		{in: ":80", wantErr: "no host"},
		{in: "host:0", wantErr: `port "0"`},
		{in: "host:+80", wantErr: `port "+80"`},
		{in: "a:b:c", wantErr: "is not host"},
		{in: "ho st", wantErr: "has character ' '"},
		{in: "user@host:1", wantErr: "has character '@'"},
	}
	for _, tt := range tests {
		h, p, err := SplitHostPort(tt.in, "99")
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%q: error %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || h != tt.host || p != tt.port {
			t.Errorf("%q: %q %q %v", tt.in, h, p, err)
		}
	}
}

func TestDuration(t *testing.T) {
	if d, err := Duration("wait", "1.5s"); err != nil || d != 1500*time.Millisecond {
		t.Errorf("1.5s: %v %v", d, err)
	}
	for _, bad := range []string{"", "0s", "-1s", "5"} {
		if _, err := Duration("wait", bad); err == nil || !strings.Contains(err.Error(), "option wait=") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestBoolAndPublishEmpty(t *testing.T) {
	if b, err := Bool("srv", "true"); err != nil || !b {
		t.Errorf("true: %v %v", b, err)
	}
	if _, err := Bool("srv", "maybe"); err == nil || !strings.Contains(err.Error(), `srv="maybe" is not true or false`) {
		t.Errorf("maybe: %v", err)
	}
	for v, want := range map[string]bool{"keep": false, "publish": true} {
		if got, err := PublishEmpty(v); err != nil || got != want {
			t.Errorf("%s: %v %v", v, got, err)
		}
	}
	if _, err := PublishEmpty("drop"); err == nil || !strings.Contains(err.Error(), `empty="drop" is not keep or publish`) {
		t.Errorf("drop: %v", err)
	}
}

// FuzzSplitHostPort: any string is split or rejected with an error, never a
// panic, and what is accepted joins back into a valid host:port.
func FuzzSplitHostPort(f *testing.F) {
	for _, s := range []string{"h:1", "h", "[::1]:2379", "[::1]", "::1", "a:b:c", "[x]:y", ":1", "h:", "h:99999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, p, err := SplitHostPort(s, "2379")
		if err != nil {
			return
		}
		if err := CheckPort(p); err != nil {
			t.Fatalf("%q: accepted port %q: %v", s, p, err)
		}
		if h == "" {
			t.Fatalf("%q: accepted an empty host", s)
		}
	})
}
