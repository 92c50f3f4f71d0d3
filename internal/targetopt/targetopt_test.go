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

func TestDefaultDuration(t *testing.T) {
	tests := []struct {
		d, def, min, max time.Duration
		want             time.Duration
		wantErr          string
	}{
		{d: 0, def: time.Second, want: time.Second},
		{d: 2 * time.Second, def: time.Second, want: 2 * time.Second},
		{d: -time.Second, def: time.Second, wantErr: "opt -1s is negative"},
		{d: time.Millisecond, def: time.Second, min: 100 * time.Millisecond, wantErr: "opt 1ms is below the floor of 100ms"},
		{d: 0, def: time.Second, min: 100 * time.Millisecond, want: time.Second},
		{d: 11 * time.Minute, def: time.Minute, min: time.Millisecond, max: 10 * time.Minute, wantErr: "opt 11m0s is not between 1ms and 10m0s"},
		{d: -time.Second, def: time.Minute, min: time.Millisecond, max: 10 * time.Minute, wantErr: "opt -1s is not between 1ms and 10m0s"},
		{d: 10 * time.Minute, def: time.Minute, min: time.Millisecond, max: 10 * time.Minute, want: 10 * time.Minute},
	}
	for _, tt := range tests {
		d := tt.d
		err := DefaultDuration("opt", &d, tt.def, tt.min, tt.max)
		switch {
		case tt.wantErr != "":
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("%+v: error %v, want %q", tt, err, tt.wantErr)
			}
		case err != nil || d != tt.want:
			t.Errorf("%+v: got %v %v, want %v", tt, d, err, tt.want)
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

func TestQuery(t *testing.T) {
	type got struct {
		wait    time.Duration
		stale   bool
		publish bool
		mode    int
		tags    []string
	}
	tests := []struct {
		raw     string
		want    got
		wantErr string
	}{
		{raw: "", want: got{}},
		{raw: "wait=2s&stale=true&empty=publish&mode=b&tag=x&tag=y", want: got{wait: 2 * time.Second, stale: true, publish: true, mode: 2, tags: []string{"x", "y"}}},
		{raw: "wait=2s&wait=3s", wantErr: `option "wait" given 2 times`},
		{raw: "wiat=2s", wantErr: `unknown option "wiat" (known: wait, stale, empty, mode, tag)`},
		{raw: "wait=-1s", wantErr: `option wait="-1s" is not a positive duration`},
		{raw: "stale=yes", wantErr: `option stale="yes" is not true or false`},
		{raw: "empty=drop", wantErr: `option empty="drop" is not keep or publish`},
		{raw: "mode=c", wantErr: `option mode="c" is not a or b`},
		{raw: "wait=%zz", wantErr: `query "wait=%zz"`},
	}
	for _, tt := range tests {
		var g got
		err := Query(tt.raw,
			DurationOption("wait", &g.wait),
			BoolOption("stale", &g.stale),
			EmptyOption(&g.publish),
			ChoiceOption("mode", &g.mode, []string{"a", "b"}, []int{1, 2}),
			Option{Name: "tag", Repeat: true, Set: func(v string) error { g.tags = append(g.tags, v); return nil }},
		)
		switch {
		case tt.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%q: error %v, want %q", tt.raw, err, tt.wantErr)
			}
		case err != nil:
			t.Errorf("%q: %v", tt.raw, err)
		case g.wait != tt.want.wait || g.stale != tt.want.stale || g.publish != tt.want.publish || g.mode != tt.want.mode || strings.Join(g.tags, ",") != strings.Join(tt.want.tags, ","):
			t.Errorf("%q: got %+v, want %+v", tt.raw, g, tt.want)
		}
	}
}
