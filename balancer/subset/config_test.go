package subset

import (
	"encoding/json"
	"testing"

	"google.golang.org/grpc/balancer"

	"github.com/grpclb/grpclb/internal/balancertest"
)

func TestParseConfig(t *testing.T) {
	tests := []struct {
		json               string
		size, count, index int
		child              string
		sticky             bool
	}{
		{`{"subsetSize": 10, "clientCount": 300, "sticky": true}`, 10, 300, -1, "round_robin", true},
		{`{"subsetSize": 10, "clientCount": 300, "sticky": false}`, 10, 300, -1, "round_robin", false},
		{`{"subsetSize": 10, "clientCount": 300, "sticky": null}`, 10, 300, -1, "round_robin", false},
		{`{"subsetSize": 10, "clientCount": 300, "clientIndex": 3}`, 10, 300, 3, "round_robin", false},
		{`{"subsetSize": 10, "clientCount": 300}`, 10, 300, -1, "round_robin", false},
		{`{"subsetSize": 10, "clientCount": 300, "clientIndex": null}`, 10, 300, -1, "round_robin", false},
		{`{"subsetSize": 1, "clientCount": 1, "clientIndex": 0, "childPolicy": [{"pick_first": {}}]}`, 1, 1, 0, "pick_first", false},
		{`{"subsetSize": 5, "clientCount": 20, "childPolicy": [{"no_such_policy": {}}, {"round_robin": {}}]}`, 5, 20, -1, "round_robin", false},
		{`{"subsetSize": 10000, "clientCount": 100}`, 10000, 100, -1, "round_robin", false},
	}
	for _, tt := range tests {
		t.Run(tt.json, func(t *testing.T) {
			got, err := ParseConfig(json.RawMessage(tt.json))
			if err != nil {
				t.Fatalf("ParseConfig: %v", err)
			}
			if got.SubsetSize != tt.size || got.ClientCount != tt.count || got.ClientIndex != tt.index || got.ChildPolicy.Name != tt.child || got.Sticky != tt.sticky {
				t.Errorf("ParseConfig = %+v, want size %d count %d index %d child %s sticky %v", got, tt.size, tt.count, tt.index, tt.child, tt.sticky)
			}
		})
	}
}

func TestParseConfigErrors(t *testing.T) {
	balancertest.CheckRefuses(t, Name, ParseConfig, map[string]string{
		``:                                     `field "subsetSize" is required`,
		`null`:                                 `field "subsetSize" is required`,
		`{}`:                                   `field "subsetSize" is required`,
		`{"subsetSize": 10}`:                   `field "clientCount" is required`,
		`{"clientCount": 10}`:                  `field "subsetSize" is required`,
		`{`:                                    "not valid JSON",
		`{"subsetSize": 10,}`:                  "not valid JSON",
		`{} {}`:                                "unexpected data after the config object",
		`[]`:                                   "config must be a JSON object, got an array",
		`"x"`:                                  "config must be a JSON object, got a string",
		`{"subsetsize": 10, "clientCount": 3}`: `unknown field "subsetsize" (known fields: "subsetSize", "clientCount", "clientIndex", "childPolicy", "sticky")`,
		`{"subsetSize": 10, "clientCount": 3, "sticky": "yes"}`:  `field "sticky": "yes" is not a boolean (true or false)`,
		`{"subsetSize": 10, "clientCount": 3, "sticky": 1}`:      `field "sticky": 1 is not a boolean (true or false)`,
		`{"subsetSize": 10, "subsetSize": 11, "clientCount": 3}`: `field "subsetSize" given twice`,
		`{"subsetSize": 0, "clientCount": 3}`:                    `field "subsetSize": must be an integer from 1 to 10000, got 0`,
		`{"subsetSize": 10001, "clientCount": 3}`:                `field "subsetSize": must be an integer from 1 to 10000, got 10001`,
		`{"subsetSize": 2.5, "clientCount": 3}`:                  `field "subsetSize": 2.5 is not an integer`,
		`{"subsetSize": "10", "clientCount": 3}`:                 `field "subsetSize": "10" is not an integer`,
		`{"subsetSize": 10, "clientCount": -1}`:                  `field "clientCount": must be an integer from 1 to 100000, got -1`,
		// Integers are written as integers: no exponent, no fraction.
		`{"subsetSize": 1e1, "clientCount": 300}`:                                                          `field "subsetSize": 1e1 is not an integer`,
		`{"subsetSize": 10, "clientCount": 1e400}`:                                                         `field "clientCount": 1e400 is not an integer`,
		`{"subsetSize": 10, "clientCount": 300, "clientIndex": 300}`:                                       `field "clientIndex": must be less than clientCount (300), got 300`,
		`{"subsetSize": 10, "clientCount": 300, "clientIndex": -1}`:                                        `field "clientIndex": must be an integer from 0 to 99999, got -1`,
		`{"subsetSize": 10000, "clientCount": 101}`:                                                        `clientCount × subsetSize must be at most 1000000, got 101 × 10000`,
		`{"subsetSize": 10, "clientCount": 3, "childPolicy": {"round_robin": {}}}`:                         `field "childPolicy": must be a list`,
		`{"subsetSize": 10, "clientCount": 3, "childPolicy": []}`:                                          `field "childPolicy": must not be empty`,
		`{"subsetSize": 10, "clientCount": 3, "childPolicy": [{}]}`:                                        `field "childPolicy": item 0: must be an object with one policy name`,
		`{"subsetSize": 10, "clientCount": 3, "childPolicy": [7]}`:                                         `field "childPolicy": item 0: must be an object with one policy name`,
		`{"subsetSize": 10, "clientCount": 3, "childPolicy": [{"a": {}, "b": {}}]}`:                        `item 0: must be an object with one policy name`,
		`{"subsetSize": 10, "clientCount": 3, "childPolicy": [{"nope": {}}]}`:                              `field "childPolicy": no registered policy among "nope"`,
		`{"subsetSize": 10, "clientCount": 3, "childPolicy": [{"deterministic_subset": {}}]}`:              `cannot be its own child`,
		`{"subsetSize": 10, "clientCount": 3, "childPolicy": [{"pick_first": {"shuffleAddressList": 7}}]}`: `field "childPolicy": "pick_first"`,
	})
}

// The registered builder parses configs the same way, and its errors come
// back as a nil LoadBalancingConfig, not a typed nil.
func TestBuilderParseConfig(t *testing.T) {
	cfg := balancertest.BuilderParses(t, Name, `{"subsetSize": 3, "clientCount": 4}`, `{"subsetSize": 0, "clientCount": 4}`)
	if c, ok := cfg.(*Config); !ok || c.SubsetSize != 3 {
		t.Errorf("ParseConfig = %#v, want *Config with subsetSize 3", cfg)
	}
}

func TestIndexFromHostname(t *testing.T) {
	for _, tc := range []struct {
		host  string
		count int
		want  int // -1: any hash in range
	}{
		{"web-0", 10, 0},
		{"web-7", 10, 7},
		{"my-app-12", 300, 12},
		{"web-10", 10, -1}, // ordinal out of range: hashed
		{"web-+3", 10, -1},
		{"web-", 10, -1},
		{"web", 10, -1},
		{"", 10, -1},
		{"web-3", 0, 0},
	} {
		got := IndexFromHostname(tc.host, tc.count)
		if tc.want >= 0 && got != tc.want || got < 0 || (tc.count > 0 && got >= tc.count) {
			t.Errorf("IndexFromHostname(%q, %d) = %d, want %d (-1: any in range)", tc.host, tc.count, got, tc.want)
		}
	}
	first := IndexFromHostname("api-7f9c-x2z", 300)
	for range 10 {
		if again := IndexFromHostname("api-7f9c-x2z", 300); again != first {
			t.Fatalf("IndexFromHostname is not deterministic: %d then %d", first, again)
		}
	}
}

func FuzzParseConfig(f *testing.F) {
	seeds := []string{
		`{"subsetSize": 10, "clientCount": 300, "clientIndex": 3, "childPolicy": [{"round_robin": {}}]}`,
		`{"subsetSize": 10, "clientCount": 300}`,
		`{"subsetSize": 1e1, "clientCount": 3e2, "clientIndex": 299.0}`,
		`{"subsetSize": 10, "clientCount": 300, "clientIndex": 300}`,
		`{"subsetSize": 10000, "clientCount": 101}`,
		`{"subsetSize": 10, "clientCount": 3, "childPolicy": [{"nope": {}}, {"pick_first": {}}]}`,
		`{"subsetSize": 10, "clientCount": 3, "childPolicy": [{"a": {}, "b": {}}]}`,
		`{"subsetSize": 10, "subsetSize": 11}`,
		`{} {}`, `[]`, `{"subsetSize": -0.5}`,
	}
	balancertest.FuzzParse(f, Name, ParseConfig, seeds, func(t *testing.T, js []byte, cfg *Config) {
		if cfg.SubsetSize < 1 || cfg.SubsetSize > 10000 || cfg.ClientCount < 1 || cfg.ClientCount > 100000 ||
			cfg.ClientIndex < -1 || cfg.ClientIndex >= cfg.ClientCount || cfg.ClientCount*cfg.SubsetSize > maxSlots ||
			balancer.Get(cfg.ChildPolicy.Name) == nil {
			t.Errorf("ParseConfig(%q) = %+v: a field out of range", js, cfg)
		}
		if !json.Valid(js) {
			t.Errorf("ParseConfig(%q) accepted invalid JSON", js)
		}
	})
}
