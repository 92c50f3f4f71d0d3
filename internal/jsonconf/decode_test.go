package jsonconf

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

type ramp struct {
	Window     Duration `json:"window"`
	Aggression float64  `json:"aggression"`
}

type sample struct {
	Count     int              `json:"count"`
	Factor    float64          `json:"factor"`
	Name      string           `json:"name,omitempty"`
	On        bool             `json:"on"`
	Tags      []string         `json:"tags"`
	Ramp      ramp             `json:"ramp"`
	Optional  *ramp            `json:"optional"`
	Named     map[string]*ramp `json:"named"`
	Items     []ramp           `json:"items"`
	Ignored   int              `json:"-"`
	unexposed int
}

func TestDecode(t *testing.T) {
	def := func() sample { return sample{Count: 7, Factor: 1.5, Ramp: ramp{Aggression: 1}} }
	tests := []struct {
		name    string
		js      string
		check   func(s sample) bool
		wantErr string
	}{
		{"empty is the defaults", ``, func(s sample) bool { return s.Count == 7 && s.Factor == 1.5 }, ""},
		{"null is the defaults", `null`, func(s sample) bool { return s.Count == 7 }, ""},
		{"fields", `{"count":3,"factor":2,"name":"x","on":true,"tags":["a","b"]}`,
			func(s sample) bool { return s.Count == 3 && s.Factor == 2 && s.Name == "x" && s.On && len(s.Tags) == 2 }, ""},
		{"unexported fields are not fields", `{"unexposed":1}`, nil, `unknown field "unexposed"`},
		{"null field keeps the default", `{"count":null}`, func(s sample) bool { return s.Count == 7 }, ""},
		{"nested struct keeps its defaults", `{"ramp":{"window":"10s"}}`,
			func(s sample) bool { return time.Duration(s.Ramp.Window) == 10*time.Second && s.Ramp.Aggression == 1 }, ""},
		{"pointer to struct", `{"optional":{"aggression":2}}`, func(s sample) bool { return s.Optional != nil && s.Optional.Aggression == 2 }, ""},
		{"unknown field lists the known ones", `{"cuont":1}`, nil, `unknown field "cuont" (known fields: "count", "factor", "name", "on", "tags", "ramp", "optional", "named", "items")`},
		{"map of structs", `{"named":{"a":{"window":"1s"},"b":null}}`,
			func(s sample) bool {
				return len(s.Named) == 2 && time.Duration(s.Named["a"].Window) == time.Second && s.Named["b"] == nil
			}, ""},
		{"list of structs", `{"items":[{"aggression":2},{}]}`, func(s sample) bool { return len(s.Items) == 2 && s.Items[0].Aggression == 2 }, ""},
		{"error in a map value names its key", `{"named":{"a":{"window":"x"}}}`, nil, `field "named.a.window": invalid duration "x"`},
		{"error in a list item names its index", `{"items":[{},{"widow":"1s"}]}`, nil, `field "items[1]": unknown field "widow"`},
		{"repeated map key", `{"named":{"a":{},"a":{}}}`, nil, `field "named": "a" given twice`},
		{"list not a list", `{"items":{}}`, nil, `field "items": must be a list, got an object`},
		{"names match exactly", `{"COUNT":1}`, nil, `unknown field "COUNT"`},
		{"json:\"-\" is not a field", `{"Ignored":1}`, nil, `unknown field "Ignored"`},
		{"repeated field", `{"count":1,"count":2}`, nil, `field "count" given twice`},
		{"repeated nested field", `{"ramp":{"window":"1s","window":"2s"}}`, nil, `field "ramp": field "window" given twice`},
		{"unknown nested field names the path", `{"ramp":{"widow":"1s"}}`, nil, `field "ramp": unknown field "widow" (known fields: "window", "aggression")`},
		{"wrong type", `{"count":"3"}`, nil, `field "count": "3" is not an integer`},
		{"fraction for an integer", `{"count":1.5}`, nil, `field "count": 1.5 is not an integer`},
		{"wrong nested type", `{"ramp":{"aggression":"fast"}}`, nil, `field "ramp.aggression": "fast" is not a number`},
		{"duration not a string", `{"ramp":{"window":10}}`, nil, `field "ramp.window": 10 is not a duration string such as "10s" or "250ms"`},
		{"bad duration", `{"ramp":{"window":"10 s"}}`, nil, `field "ramp.window": invalid duration "10 s"`},
		{"list of strings", `{"tags":"a"}`, nil, `field "tags": "a" is not a list of strings`},
		{"not an object", `[1]`, nil, `config must be a JSON object, got an array`},
		{"nested not an object", `{"ramp":3}`, nil, `field "ramp": must be a JSON object, got a number`},
		{"invalid JSON", `{"count":`, nil, `field "count": not valid JSON`},
		{"invalid JSON at the top", `{"count":1`, nil, `config is not valid JSON`},
		{"data after the object", `{} {}`, nil, `unexpected data after the config object`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := def()
			err := Decode([]byte(tt.js), &s)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(s) || s.unexposed != 0 || s.Ignored != 0 {
				t.Errorf("decoded %+v", s)
			}
		})
	}
}

type node struct {
	Child *node `json:"child"`
	N     int   `json:"n"`
}

func nested(depth int) []byte {
	return []byte(strings.Repeat(`{"n":1,"child":`, depth) + `null` + strings.Repeat(`}`, depth))
}

// A config nested 3000 deep decodes, every level.
func TestDecodeDeep(t *testing.T) {
	js := nested(3000)
	var n node
	if err := Decode([]byte(js), &n); err != nil {
		t.Fatal(err)
	}
	depth := 0
	for p := &n; p != nil; p = p.Child {
		depth++
	}
	if depth != 3000 {
		t.Errorf("depth %d, want 3000", depth)
	}
}

// Decode reads its input once, token by token: ns/byte stays flat from 10
// to 3000 levels (the old outlier parser re-scanned every level's subtree,
// 3-4 s at 1000 levels).
func BenchmarkDecodeDepth(b *testing.B) {
	for _, depth := range []int{10, 100, 1000, 3000} {
		js := nested(depth)
		b.Run(strconv.Itoa(depth), func(b *testing.B) {
			b.SetBytes(int64(len(js)))
			for b.Loop() {
				var n node
				if err := Decode(js, &n); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"count":3,"ramp":{"window":"1s"},"tags":["a"]}`))
	f.Add([]byte(`{"optional":{"aggression":2,"aggression":3}}`))
	f.Fuzz(func(t *testing.T, js []byte) {
		var s sample
		_ = Decode(js, &s) // must not panic
	})
}
