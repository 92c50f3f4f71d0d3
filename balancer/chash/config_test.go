package chash

import (
	"math"
	"strings"
	"testing"

	"github.com/grpclb/grpclb/internal/balancertest"
)

func TestParseConfig(t *testing.T) {
	def := Config{LoadFactor: DefaultLoadFactor, MissingKey: MissingKeyRandom}
	good := []struct {
		name, js string
		want     Config
	}{
		{"empty input", ``, def},
		{"empty object", `{}`, def},
		{"null", `null`, def},
		{"null fields", `{"virtualNodes":null,"loadFactor":null,"hashHeader":null,"missingKey":null}`, def},
		{"whitespace", " \n\t{ } ", def},
		{"everything", `{"virtualNodes":160,"loadFactor":2,"hashHeader":"x-user-id","missingKey":"error"}`,
			Config{VirtualNodes: 160, LoadFactor: 2, HashHeader: "x-user-id", MissingKey: MissingKeyError}},
		{"virtualNodes auto", `{"virtualNodes":0}`, def},
		{"virtualNodes max", `{"virtualNodes":10000}`, Config{VirtualNodes: 10000, LoadFactor: 1.25, MissingKey: "random"}},
		{"bounding off", `{"loadFactor":0}`, Config{LoadFactor: 0, MissingKey: "random"}},
		{"loadFactor just above 1", `{"loadFactor":1.0001}`, Config{LoadFactor: 1.0001, MissingKey: "random"}},
		{"loadFactor large", `{"loadFactor":1e9}`, Config{LoadFactor: 1e9, MissingKey: "random"}},
		{"header lower-cased", `{"hashHeader":"X-User-ID"}`, Config{LoadFactor: 1.25, HashHeader: "x-user-id", MissingKey: "random"}},
		{"header characters", `{"hashHeader":"a.b_c-9"}`, Config{LoadFactor: 1.25, HashHeader: "a.b_c-9", MissingKey: "random"}},
		{"binary header", `{"hashHeader":"key-bin"}`, Config{LoadFactor: 1.25, HashHeader: "key-bin", MissingKey: "random"}},
		{"empty header", `{"hashHeader":""}`, def},
		{"missingKey random", `{"missingKey":"random"}`, def},
	}
	for _, tt := range good {
		t.Run(tt.name, func(t *testing.T) { balancertest.Parses(t, ParseConfig, tt.js, tt.want) })
	}

	bad := []struct {
		name, js string
		want     []string // substrings of the error
	}{
		{"not an object", `[1]`, []string{"JSON object"}},
		{"not JSON", `{`, []string{"not valid JSON"}},
		{"trailing data", `{} {}`, []string{"unexpected data after the config object"}},
		{"string", `"x"`, []string{"JSON object"}},
		{"unknown field", `{"virtualnodes":10}`, []string{`unknown field "virtualnodes"`, "virtualNodes"}},
		{"unknown field other", `{"ringSize":10}`, []string{`unknown field "ringSize"`}},
		{"field name case", `{"LoadFactor":2}`, []string{`unknown field "LoadFactor"`}},
		{"repeated field", `{"loadFactor":0.5,"loadFactor":2}`, []string{`field "loadFactor" given twice`}},
		{"virtualNodes negative", `{"virtualNodes":-1}`, []string{`field "virtualNodes": must be an integer from 0 to 10000, got -1`}},
		{"virtualNodes too big", `{"virtualNodes":10001}`, []string{`field "virtualNodes": must be an integer from 0 to 10000, got 10001`}},
		{"missingKey empty", `{"missingKey":""}`, []string{`field "missingKey": "" is not one of "random", "error"`}},
		{"virtualNodes huge", `{"virtualNodes":1e30}`, []string{"virtualNodes"}},
		{"virtualNodes fraction", `{"virtualNodes":1.5}`, []string{"virtualNodes", "1.5"}},
		{"virtualNodes float", `{"virtualNodes":100.0}`, []string{"virtualNodes", "100.0"}},
		{"virtualNodes string", `{"virtualNodes":"10"}`, []string{"virtualNodes"}},
		{"loadFactor one", `{"loadFactor":1}`, []string{"loadFactor", "greater than 1"}},
		{"loadFactor half", `{"loadFactor":0.5}`, []string{"loadFactor", "0.5", "greater than 1"}},
		{"loadFactor tiny", `{"loadFactor":1e-300}`, []string{"loadFactor", "greater than 1"}},
		{"loadFactor negative", `{"loadFactor":-2}`, []string{"loadFactor", "negative"}},
		{"loadFactor overflow", `{"loadFactor":1e400}`, []string{"loadFactor"}},
		{"loadFactor string", `{"loadFactor":"1.5"}`, []string{"loadFactor"}},
		{"loadFactor bool", `{"loadFactor":true}`, []string{"loadFactor"}},
		{"header space", `{"hashHeader":"x user"}`, []string{"hashHeader", `"x user"`, "character"}},
		{"header colon", `{"hashHeader":":authority"}`, []string{"hashHeader", "character"}},
		{"header reserved", `{"hashHeader":"grpc-timeout"}`, []string{"hashHeader", "grpc-"}},
		{"header reserved upper", `{"hashHeader":"GRPC-x"}`, []string{"hashHeader", "grpc-"}},
		{"header number", `{"hashHeader":5}`, []string{"hashHeader"}},
		{"missingKey unknown", `{"missingKey":"fail"}`, []string{"missingKey", `"fail"`, "random", "error"}},
		{"missingKey case", `{"missingKey":"Random"}`, []string{"missingKey", `"Random"`}},
		{"missingKey number", `{"missingKey":1}`, []string{"missingKey"}},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) { balancertest.Refuses(t, Name, ParseConfig, tt.js, tt.want...) })
	}
}

// The registered builder parses with ParseConfig, and its error comes
// with a nil config (a typed nil *Config used to come with it).
func TestBuilderParseConfig(t *testing.T) {
	cfg := balancertest.BuilderParses(t, Name, `{"loadFactor":3,"missingKey":"error"}`, `{"loadFactor":1}`)
	if c, ok := cfg.(*Config); !ok || c.LoadFactor != 3 || c.MissingKey != MissingKeyError {
		t.Errorf("ParseConfig = %#v", cfg)
	}
}

// FuzzParseConfig checks that ParseConfig never panics, that what it
// accepts is valid, and that a config it accepts means the same after a
// round trip through JSON.
func FuzzParseConfig(f *testing.F) {
	seeds := []string{
		`{"virtualNodes":160,"loadFactor":2,"hashHeader":"x-user-id","missingKey":"error"}`,
		`{"loadFactor":0}`, `{"loadFactor":1}`, `{"hashHeader":"X-A"}`, `{"virtualNodes":-1}`,
		`{"missingKey":"random","hashHeader":"grpc-x"}`, `{"a":1}`, `[`, `{"virtualNodes":1e3}`,
	}
	balancertest.FuzzParse(f, Name, ParseConfig, seeds, func(t *testing.T, js []byte, cfg *Config) {
		if cfg.VirtualNodes < 0 || cfg.VirtualNodes > MaxVirtualNodes {
			t.Errorf("accepted virtualNodes %d", cfg.VirtualNodes)
		}
		if lf := cfg.LoadFactor; math.IsNaN(lf) || math.IsInf(lf, 0) || lf != 0 && lf <= 1 {
			t.Errorf("accepted loadFactor %v", lf)
		}
		if cfg.MissingKey != MissingKeyRandom && cfg.MissingKey != MissingKeyError {
			t.Errorf("accepted missingKey %q", cfg.MissingKey)
		}
		if h := cfg.HashHeader; h != strings.ToLower(h) || validHeader(h) != nil {
			t.Errorf("accepted hashHeader %q", h)
		}
		balancertest.RoundTrips(t, ParseConfig, cfg)
	})
}
