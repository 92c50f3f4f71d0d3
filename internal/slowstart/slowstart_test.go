package slowstart

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/balancer"
	"google.golang.org/grpc/balancer/endpointsharding"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/resolver"

	"github.com/grpclb/grpclb/internal/jsonconf"
)

const sec = time.Second

func TestFactor(t *testing.T) {
	for _, tc := range []struct {
		c       Config
		elapsed time.Duration
		want    float64
	}{
		{Default(), 0, 1},   // off
		{Config{}, 0, 1},    // off
		{Config{}, -sec, 1}, // off
		{Config{Window: sec, Aggression: 1, MinWeightPercent: 10}, 0, 0.1},
		{Config{Window: sec, Aggression: 1, MinWeightPercent: 10}, -sec, 0.1}, // a clock that went back
		{Config{Window: sec, Aggression: 1, MinWeightPercent: 10}, sec / 20, 0.1},
		{Config{Window: sec, Aggression: 1, MinWeightPercent: 10}, sec / 5, 0.2},
		{Config{Window: sec, Aggression: 1, MinWeightPercent: 10}, sec / 2, 0.5},
		{Config{Window: sec, Aggression: 1, MinWeightPercent: 10}, sec - 1, 1 - 1e-9},
		{Config{Window: sec, Aggression: 1, MinWeightPercent: 10}, sec, 1},
		{Config{Window: sec, Aggression: 1, MinWeightPercent: 10}, time.Hour, 1},
		{Config{Window: sec, Aggression: 2, MinWeightPercent: 10}, sec / 4, 0.5},
		{Config{Window: sec, Aggression: 2, MinWeightPercent: 10}, sec / 100, 0.1},
		{Config{Window: sec, Aggression: 0.5, MinWeightPercent: 10}, sec / 2, 0.25},
		{Config{Window: sec, Aggression: 0.5, MinWeightPercent: 10}, sec / 4, 0.1},
		{Config{Window: sec, Aggression: 1, MinWeightPercent: 50}, sec / 4, 0.5},
		{Config{Window: sec, Aggression: 1, MinWeightPercent: 100}, 0, 1}, // no ramp
		{Config{Window: 10 * sec}, 0, 0.1},                                // zero fields: the defaults
		{Config{Window: 10 * sec}, 5 * sec, 0.5},                          // zero fields: the defaults
		{Config{Window: 10 * sec, Aggression: 2}, 0, 0.1},
	} {
		if got := tc.c.Factor(tc.elapsed); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("%+v after %v: factor %v, want %v", tc.c, tc.elapsed, got, tc.want)
		}
	}
}

func TestEnabled(t *testing.T) {
	for _, tc := range []struct {
		c    Config
		want bool
	}{
		{Config{}, false},
		{Default(), false},
		{Config{Window: sec}, true},
		{Config{Window: sec, MinWeightPercent: 99.9}, true},
		{Config{Window: sec, MinWeightPercent: 100}, false},
	} {
		if got := tc.c.Enabled(); got != tc.want {
			t.Errorf("%+v: Enabled() = %v, want %v", tc.c, got, tc.want)
		}
	}
}

// parse decodes js as the slowStart field of a policy's config, as p2c_ewma
// and wrr do.
func parse(js string) (Config, error) {
	if strings.TrimSpace(js) == "" {
		js = "null"
	}
	cfg := struct {
		SlowStart Config `json:"slowStart"`
	}{Default()}
	err := jsonconf.Decode([]byte(`{"slowStart":`+js+`}`), &cfg)
	return cfg.SlowStart, err
}

func TestParse(t *testing.T) {
	def := Default()
	with := func(f func(*Config)) Config {
		c := def
		f(&c)
		return c
	}
	for _, tc := range []struct {
		js   string
		want Config
	}{
		{``, def},
		{`null`, def},
		{`{}`, def},
		{`{"window": "10s"}`, with(func(c *Config) { c.Window = 10 * sec })},
		{`{"window": "10s", "aggression": 1.0, "minWeightPercent": 10}`, with(func(c *Config) { c.Window = 10 * sec })},
		{`{"window": "2s", "aggression": 2.5, "minWeightPercent": 5}`, Config{2 * sec, 2.5, 5}},
		{`{"minWeightPercent": 1, "window": "3s"}`, with(func(c *Config) { c.Window, c.MinWeightPercent = 3*sec, 1 })},
		{`{"window": "0.5s"}`, with(func(c *Config) { c.Window = 500 * time.Millisecond })},
		{`{"window": "1m30s"}`, with(func(c *Config) { c.Window = 90 * sec })},
		{`{"window": "1h"}`, with(func(c *Config) { c.Window = time.Hour })},
		{`{"window": "250µs"}`, with(func(c *Config) { c.Window = 250 * time.Microsecond })},
		{`{"window": "0s"}`, def},
		{`{"window": "0"}`, def},
		{`{"aggression": 10}`, with(func(c *Config) { c.Aggression = 10 })},
		{`{"aggression": 0.01}`, with(func(c *Config) { c.Aggression = 0.01 })},
		{`{"aggression": 2e0}`, with(func(c *Config) { c.Aggression = 2 })},
		{`{"minWeightPercent": 100}`, with(func(c *Config) { c.MinWeightPercent = 100 })},
		{`{"minWeightPercent": 0.5}`, with(func(c *Config) { c.MinWeightPercent = 0.5 })},
		{`{"window": null, "aggression": null, "minWeightPercent": null}`, def},
		{"{\n\t\"window\": \"5s\"\n}", with(func(c *Config) { c.Window = 5 * sec })},
	} {
		got, err := parse(tc.js)
		if err != nil || got != tc.want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", tc.js, got, err, tc.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		js, want string // want: the whole error
	}{
		{`"10s"`, `field "slowStart": must be a JSON object, got a string`},
		{`10`, `field "slowStart": must be a JSON object, got a number`},
		{`[]`, `field "slowStart": must be a JSON object, got an array`},
		{`true`, `field "slowStart": must be a JSON object, got a boolean`},
		{`{"windw": "1s"}`, `field "slowStart": unknown field "windw" (known fields: "window", "aggression", "minWeightPercent")`},
		{`{"Window": "1s"}`, `field "slowStart": unknown field "Window" (known fields: "window", "aggression", "minWeightPercent")`},
		{`{"window": "1s", "window": "2s"}`, `field "slowStart": field "window" given twice`},
		{`{"window": 10}`, `field "slowStart.window": 10 is not a duration string such as "10s" or "250ms"`},
		{`{"window": {"seconds": 10}}`, `field "slowStart.window": {"seconds": 10} is not a duration string such as "10s" or "250ms"`},
		{`{"window": ""}`, `field "slowStart.window": invalid duration "": want a duration such as "10s" or "250ms"`},
		{`{"window": "10"}`, `field "slowStart.window": invalid duration "10": want a duration such as "10s" or "250ms"`},
		{`{"window": "-1s"}`, `field "slowStart.window": must not be negative, got "-1s"`},
		{`{"window": "61m"}`, `field "slowStart.window": must be at most 1h0m0s, got "1h1m0s"`},
		{`{"window": "315576000000s"}`, `field "slowStart.window": invalid duration "315576000000s": want a duration such as "10s" or "250ms"`},
		{`{"aggression": 0}`, `field "slowStart.aggression": must be in (0, 10], got 0`},
		{`{"aggression": -1}`, `field "slowStart.aggression": must be in (0, 10], got -1`},
		{`{"aggression": 11}`, `field "slowStart.aggression": must be in (0, 10], got 11`},
		{`{"aggression": 1e400}`, `field "slowStart.aggression": 1e400 is not a number`},
		{`{"aggression": "1.0"}`, `field "slowStart.aggression": "1.0" is not a number`},
		{`{"minWeightPercent": 0}`, `field "slowStart.minWeightPercent": must be in (0, 100], got 0`},
		{`{"minWeightPercent": 150}`, `field "slowStart.minWeightPercent": must be in (0, 100], got 150`},
		{`{"minWeightPercent": "10%"}`, `field "slowStart.minWeightPercent": "10%" is not a number`},
	} {
		_, err := parse(tc.js)
		if err == nil || err.Error() != tc.want {
			t.Errorf("Parse(%q): error %v, want %s", tc.js, err, tc.want)
		}
	}
}

func TestMarshalJSON(t *testing.T) {
	for _, tc := range []struct {
		c    Config
		want string
	}{
		{Default(), `{"window":"0s","aggression":1,"minWeightPercent":10}`},
		{Config{}, `{"window":"0s","aggression":1,"minWeightPercent":10}`},
		{Config{Window: 10 * sec}, `{"window":"10s","aggression":1,"minWeightPercent":10}`},
		{Config{90 * sec, 2.5, 0.5}, `{"window":"1m30s","aggression":2.5,"minWeightPercent":0.5}`},
	} {
		js, err := json.Marshal(tc.c)
		if err != nil || string(js) != tc.want {
			t.Errorf("json.Marshal(%+v) = %s, %v; want %s", tc.c, js, err, tc.want)
		}
		back, err := parse(string(js))
		if err != nil || back != tc.c.withDefaults() {
			t.Errorf("Parse(%s) = %+v, %v; want %+v", js, back, err, tc.c.withDefaults())
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		``, `null`, `{}`, `[]`, `"10s"`,
		`{"window": "10s", "aggression": 1.0, "minWeightPercent": 10}`,
		`{"window": "0.5s", "aggression": 2.5}`,
		`{"window": "250µs", "minWeightPercent": 0.5}`,
		`{"window": "1s", "window": "2s"}`,
		`{"windw": "1s"}`,
		`{"window": 10}`,
		`{"aggression": 0}`,
		`{"minWeightPercent": 1e400}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if strings.TrimSpace(s) != "" && !json.Valid([]byte(s)) {
			return // a policy's parser hands the field only what it has read
		}
		c, err := parse(s)
		if err != nil {
			if !strings.Contains(err.Error(), `"slowStart`) {
				t.Errorf("Parse(%q): error %q does not name the field", s, err)
			}
			return
		}
		if c.Window < 0 || c.Window > MaxWindow || !(c.Aggression > 0 && c.Aggression <= MaxAggression) ||
			!(c.MinWeightPercent > 0 && c.MinWeightPercent <= 100) {
			t.Errorf("Parse(%q) = %+v: a field out of range", s, c)
		}
		for _, e := range []time.Duration{-1, 0, 1, c.Window / 3, c.Window - 1, c.Window} {
			if f := c.Factor(e); !(f > 0 && f <= 1) {
				t.Errorf("%+v: Factor(%v) = %v, want in (0, 1]", c, e, f)
			}
		}
		js, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		if back, err := parse(string(js)); err != nil || back != c {
			t.Errorf("Parse(%s) = %+v, %v; want %+v", js, back, err, c)
		}
	})
}

// TestTracker follows endpoints through sequences of connectivity states
// and checks when each one's ramp started. Times are offsets from t0.
func TestTracker(t *testing.T) {
	const (
		r  = connectivity.Ready
		tf = connectivity.TransientFailure
		id = connectivity.Idle
		co = connectivity.Connecting
	)
	type step struct {
		at    time.Duration
		state connectivity.State
		want  time.Duration // the ramp's start (an offset) if READY; -1: zero
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"first READY starts the ramp", []step{
			{0, co, -1}, {2 * sec, r, 2 * sec}, {5 * sec, r, 2 * sec},
		}},
		{"READY at once", []step{{0, r, 0}}},
		{"failed before the first READY", []step{
			{0, co, -1}, {1 * sec, tf, -1}, {3 * sec, co, -1}, {4 * sec, r, 4 * sec},
		}},
		{"graceful reconnect (GOAWAY) keeps the place", []step{
			{0, r, 0}, {4 * sec, id, -1}, {4 * sec, co, -1}, {5 * sec, r, 0},
		}},
		{"graceful reconnects, again and again", []step{
			{0, r, 0}, {1 * sec, id, -1}, {1 * sec, r, 0}, {time.Hour, id, -1}, {time.Hour, co, -1}, {time.Hour + sec, r, 0},
		}},
		{"long IDLE without a failure keeps the place", []step{
			{0, r, 0}, {sec, id, -1}, {10 * time.Hour, co, -1}, {10 * time.Hour, r, 0},
		}},
		{"reconnect through TRANSIENT_FAILURE restarts", []step{
			{0, r, 0}, {4 * sec, id, -1}, {4 * sec, co, -1}, {5 * sec, tf, -1}, {7 * sec, co, -1}, {8 * sec, r, 8 * sec},
		}},
		{"READY straight to TRANSIENT_FAILURE (unhealthy) restarts", []step{
			{0, r, 0}, {sec, tf, -1}, {2 * sec, r, 2 * sec},
		}},
		{"a failure is forgotten once READY again", []step{
			{0, r, 0}, {sec, tf, -1}, {2 * sec, r, 2 * sec}, {3 * sec, id, -1}, {4 * sec, co, -1}, {5 * sec, r, 2 * sec},
		}},
		{"TRANSIENT_FAILURE then IDLE then READY restarts", []step{
			{0, r, 0}, {sec, tf, -1}, {2 * sec, id, -1}, {3 * sec, co, -1}, {4 * sec, r, 4 * sec},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t0 := time.Now()
			ep := endpoint("10.0.0.1:80")
			var tr Tracker
			for i, s := range tc.steps {
				got := tr.Update(t0.Add(s.at), []endpointsharding.ChildState{child(ep, s.state)})
				want := time.Time{}
				if s.want >= 0 {
					want = t0.Add(s.want)
				}
				if len(got) != 1 || !got[0].Equal(want) {
					t.Fatalf("step %d (%v at %v): start %v, want %v", i, s.state, s.at, got, offset(t0, want))
				}
			}
		})
	}
}

// Endpoints are tracked apart, and one that leaves the set starts over
// when it comes back, READY or not in between.
func TestTrackerSetChanges(t *testing.T) {
	t0 := time.Now()
	a, b := endpoint("10.0.0.1:80"), endpoint("10.0.0.2:80")
	var tr Tracker
	check := func(at time.Duration, children []endpointsharding.ChildState, want ...time.Duration) {
		t.Helper()
		got := tr.Update(t0.Add(at), children)
		if len(got) != len(want) {
			t.Fatalf("at %v: %d starts, want %d", at, len(got), len(want))
		}
		for i := range want {
			w := time.Time{}
			if want[i] >= 0 {
				w = t0.Add(want[i])
			}
			if !got[i].Equal(w) {
				t.Errorf("at %v, child %d: start %v, want %v", at, i, offset(t0, got[i]), offset(t0, w))
			}
		}
	}
	if got := tr.Update(t0, nil); len(got) != 0 {
		t.Errorf("Update with no children = %v", got)
	}
	check(0, []endpointsharding.ChildState{child(a, connectivity.Ready)}, 0)
	check(sec, []endpointsharding.ChildState{child(a, connectivity.Ready), child(b, connectivity.Connecting)}, 0, -1)
	check(2*sec, []endpointsharding.ChildState{child(b, connectivity.Ready), child(a, connectivity.Ready)}, 2*sec, 0)
	// b leaves the set and comes back: new. a leaves while READY and comes
	// back IDLE, then READY without a failure: new all the same.
	check(3*sec, []endpointsharding.ChildState{child(a, connectivity.Ready)}, 0)
	check(4*sec, []endpointsharding.ChildState{child(b, connectivity.Ready)}, 4*sec)
	check(5*sec, []endpointsharding.ChildState{child(a, connectivity.Idle), child(b, connectivity.Ready)}, -1, 4*sec)
	check(6*sec, []endpointsharding.ChildState{child(a, connectivity.Ready), child(b, connectivity.Ready)}, 6*sec, 4*sec)
	// b fails, a reconnects gracefully.
	check(7*sec, []endpointsharding.ChildState{child(a, connectivity.Idle), child(b, connectivity.TransientFailure)}, -1, -1)
	check(8*sec, []endpointsharding.ChildState{child(a, connectivity.Ready), child(b, connectivity.Ready)}, 6*sec, 8*sec)
}

func endpoint(addr string) resolver.Endpoint {
	return resolver.Endpoint{Addresses: []resolver.Address{{Addr: addr}}}
}

func child(ep resolver.Endpoint, s connectivity.State) endpointsharding.ChildState {
	return endpointsharding.ChildState{Endpoint: ep, State: balancer.State{ConnectivityState: s}}
}

// offset shows t as an offset from t0, or "zero".
func offset(t0, t time.Time) string {
	if t.IsZero() {
		return "zero"
	}
	return t.Sub(t0).String()
}
