package outlier

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/balancer"
	"google.golang.org/grpc/codes"

	_ "github.com/grpclb/grpclb/balancer/p2c"
	"github.com/grpclb/grpclb/internal/balancertest"
)

func TestParseConfigDefaults(t *testing.T) {
	for _, js := range []string{``, `{}`, `null`, " \n{ }\t", `{"interval":null,"successRate":null}`} {
		cfg, err := ParseConfig(json.RawMessage(js))
		if err != nil {
			t.Fatalf("ParseConfig(%q): %v", js, err)
		}
		want := defaultConfig()
		want.ConsecutiveFailures = &ConsecutiveFailures{Threshold: DefaultConsecutiveFailures}
		if !reflect.DeepEqual(cfg, want) {
			t.Errorf("ParseConfig(%q) = %+v, want %+v", js, cfg, want)
		}
	}
}

func TestParseConfig(t *testing.T) {
	full := `{"interval":"1s","baseEjectionTime":"30s","maxEjectionTime":"300s","maxEjectionPercent":50,
		"consecutiveFailures":{"threshold":7},
		"successRate":{"stdevFactor":1000,"enforcementPercentage":90,"minimumHosts":3,"requestVolume":20},
		"failurePercentage":{"threshold":40,"minimumHosts":2,"requestVolume":10},
		"failureStatusCodes":["UNAVAILABLE","NOT_FOUND"],
		"childPolicy":[{"no_such_policy":{}},{"p2c_ewma":{"decay":"5s"}}]}`
	cfg, err := ParseConfig(json.RawMessage(full))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Interval != time.Second || cfg.BaseEjectionTime != 30*time.Second || cfg.MaxEjectionTime != 300*time.Second || cfg.MaxEjectionPercent != 50 {
		t.Errorf("durations and percent: %+v", cfg)
	}
	if *cfg.ConsecutiveFailures != (ConsecutiveFailures{7}) {
		t.Errorf("consecutiveFailures = %+v", *cfg.ConsecutiveFailures)
	}
	if *cfg.SuccessRate != (SuccessRate{StdevFactor: 1000, EnforcementPercentage: 90, MinimumHosts: 3, RequestVolume: 20}) {
		t.Errorf("successRate = %+v", *cfg.SuccessRate)
	}
	if *cfg.FailurePercentage != (FailurePercentage{Threshold: 40, EnforcementPercentage: 100, MinimumHosts: 2, RequestVolume: 10}) {
		t.Errorf("failurePercentage = %+v", *cfg.FailurePercentage)
	}
	if !reflect.DeepEqual(cfg.FailureCodes, []codes.Code{codes.NotFound, codes.Unavailable}) {
		t.Errorf("failure codes = %v", cfg.FailureCodes)
	}
	if cfg.ChildPolicy.Name != "p2c_ewma" || string(cfg.ChildPolicy.JSON) != `{"decay":"5s"}` || cfg.ChildPolicy.Config == nil {
		t.Errorf("child policy = %+v", cfg.ChildPolicy)
	}

	// A detector given alone turns the default consecutiveFailures off.
	cfg, err = ParseConfig(json.RawMessage(`{"successRate":{}}`))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ConsecutiveFailures != nil || cfg.FailurePercentage != nil {
		t.Errorf("only successRate given, got consecutiveFailures %v, failurePercentage %v", cfg.ConsecutiveFailures, cfg.FailurePercentage)
	}
	if *cfg.SuccessRate != (SuccessRate{StdevFactor: 1900, EnforcementPercentage: 100, MinimumHosts: 5, RequestVolume: 100}) {
		t.Errorf("successRate defaults = %+v", *cfg.SuccessRate)
	}
	cfg, err = ParseConfig(json.RawMessage(`{"failurePercentage":{}}`))
	if err != nil {
		t.Fatal(err)
	}
	if *cfg.FailurePercentage != (FailurePercentage{Threshold: 85, EnforcementPercentage: 100, MinimumHosts: 5, RequestVolume: 50}) {
		t.Errorf("failurePercentage defaults = %+v", *cfg.FailurePercentage)
	}
}

// Status codes may be numbers, as in grpc-go's service configs.
func TestParseConfigCodeNumbers(t *testing.T) {
	cfg, err := ParseConfig(json.RawMessage(`{"failureStatusCodes":[14, "DEADLINE_EXCEEDED"]}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := []codes.Code{codes.DeadlineExceeded, codes.Unavailable}; !slices.Equal(cfg.FailureCodes, want) {
		t.Errorf("FailureCodes %v, want %v", cfg.FailureCodes, want)
	}
}

func TestParseConfigErrors(t *testing.T) {
	bad := []struct {
		name, js string
		want     []string // substrings of the error
	}{
		{"not an object", `[1]`, []string{"JSON object", "an array"}},
		{"string", `"x"`, []string{"JSON object", "a string"}},
		{"not JSON", `{`, []string{"not valid JSON"}},
		{"trailing data", `{} {}`, []string{"not valid JSON"}},
		{"unknown field", `{"intervals":"1s"}`, []string{`unknown field "intervals"`, `"interval"`}},
		{"field case", `{"Interval":"1s"}`, []string{`unknown field "Interval"`}},
		{"twice", `{"interval":"1s","interval":"2s"}`, []string{`"interval"`, "twice"}},
		{"interval number", `{"interval":10}`, []string{`"interval"`, "duration string"}},
		{"interval no unit", `{"interval":"10"}`, []string{`"interval"`, "invalid duration"}},
		{"interval zero", `{"interval":"0s"}`, []string{`"interval"`, "positive"}},
		{"interval negative", `{"interval":"-1s"}`, []string{`"interval"`, "positive"}},
		{"interval huge", `{"interval":"2h"}`, []string{`"interval"`, "at most 1h"}},
		{"base zero", `{"baseEjectionTime":"0s"}`, []string{`"baseEjectionTime"`, "positive"}},
		{"max bad", `{"maxEjectionTime":"forever"}`, []string{`"maxEjectionTime"`, "forever"}},
		{"percent over", `{"maxEjectionPercent":101}`, []string{`"maxEjectionPercent"`, "0 to 100", "101"}},
		{"percent negative", `{"maxEjectionPercent":-1}`, []string{`"maxEjectionPercent"`, "-1"}},
		{"percent fraction", `{"maxEjectionPercent":12.5}`, []string{`"maxEjectionPercent"`, "12.5"}},
		{"percent exponent", `{"maxEjectionPercent":1e1}`, []string{`"maxEjectionPercent"`, "1e1"}},
		{"percent string", `{"maxEjectionPercent":"10"}`, []string{`"maxEjectionPercent"`}},
		{"consecutive zero", `{"consecutiveFailures":{"threshold":0}}`, []string{`"consecutiveFailures.threshold"`, "1 to"}},
		{"consecutive unknown", `{"consecutiveFailures":{"count":3}}`, []string{`"consecutiveFailures"`, `unknown field "count"`, `"threshold"`}},
		{"consecutive not object", `{"consecutiveFailures":5}`, []string{`"consecutiveFailures"`, "JSON object"}},
		{"consecutive twice", `{"consecutiveFailures":{"threshold":1,"threshold":2}}`, []string{`"threshold"`, "twice"}},
		{"stdev negative", `{"successRate":{"stdevFactor":-1}}`, []string{`"successRate.stdevFactor"`}},
		{"stdev float", `{"successRate":{"stdevFactor":1.9}}`, []string{`"successRate.stdevFactor"`, "1.9"}},
		{"enforcement over", `{"successRate":{"enforcementPercentage":200}}`, []string{`"successRate.enforcementPercentage"`, "200"}},
		{"volume zero", `{"successRate":{"requestVolume":0}}`, []string{`"successRate.requestVolume"`, "1 to"}},
		{"hosts negative", `{"failurePercentage":{"minimumHosts":-5}}`, []string{`"failurePercentage.minimumHosts"`}},
		{"fp threshold over", `{"failurePercentage":{"threshold":101}}`, []string{`"failurePercentage.threshold"`, "101"}},
		{"codes not list", `{"failureStatusCodes":"UNAVAILABLE"}`, []string{`"failureStatusCodes"`, "list"}},
		{"codes empty", `{"failureStatusCodes":[]}`, []string{`"failureStatusCodes"`, "empty"}},
		{"codes unknown", `{"failureStatusCodes":["UNAVAILABLE","Unavailable"]}`, []string{`"failureStatusCodes"`, `"Unavailable"`}},
		{"codes number out of range", `{"failureStatusCodes":[17]}`, []string{`"failureStatusCodes"`, "unknown status code 17"}},
		{"codes OK", `{"failureStatusCodes":["OK"]}`, []string{`"failureStatusCodes"`, `"OK"`}},
		{"codes cancelled", `{"failureStatusCodes":["CANCELLED"]}`, []string{`"failureStatusCodes"`, `"CANCELLED"`, "caller"}},
		{"codes twice", `{"failureStatusCodes":["INTERNAL","INTERNAL"]}`, []string{`"failureStatusCodes"`, `"INTERNAL"`, "twice"}},
		{"child not list", `{"childPolicy":{"round_robin":{}}}`, []string{`"childPolicy"`, "list"}},
		{"child empty", `{"childPolicy":[]}`, []string{`"childPolicy"`, "empty"}},
		{"child unregistered", `{"childPolicy":[{"nope":{}},{"nada":{}}]}`, []string{`"childPolicy"`, `"nope"`, `"nada"`, "registered"}},
		{"child two names", `{"childPolicy":[{"round_robin":{},"pick_first":{}}]}`, []string{`"childPolicy"`, "item 0", "one policy name"}},
		{"child bad item", `{"childPolicy":["round_robin"]}`, []string{`"childPolicy"`, "item 0"}},
		{"child bad config", `{"childPolicy":[{"p2c_ewma":{"decay":"1"}}]}`, []string{`"childPolicy"`, `"p2c_ewma"`, `"decay"`}},
		// Each level parses its child from JSON: 1000 levels took 2.4 s
		// and 3000 levels 19.5 s before the nesting bound.
		{"nested 1000 deep", strings.Repeat(`{"childPolicy":[{"outlier_ejection":`, 1000) + `{}` + strings.Repeat(`}]}`, 1000),
			[]string{`"childPolicy"`, "more than the 64 allowed"}},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) { balancertest.Refuses(t, Name, ParseConfig, tt.js, tt.want...) })
	}
}

// The registered builder parses with ParseConfig.
func TestBuilderParseConfig(t *testing.T) {
	cfg := balancertest.BuilderParses(t, Name, `{"maxEjectionPercent":30}`, `{"maxEjectionPercent":300}`)
	if c, ok := cfg.(*Config); !ok || c.MaxEjectionPercent != 30 {
		t.Errorf("ParseConfig = %#v", cfg)
	}
}

// FuzzParseConfig checks that ParseConfig never panics, that what it
// accepts is in range, and that an accepted config means the same after a
// round trip through MarshalJSON.
func FuzzParseConfig(f *testing.F) {
	seeds := []string{
		`[`, `{"a":1}`,
		`{"interval":"1s","baseEjectionTime":"30s","maxEjectionTime":"300s","maxEjectionPercent":50,"consecutiveFailures":{"threshold":5},"successRate":{"stdevFactor":1900,"enforcementPercentage":100,"minimumHosts":5,"requestVolume":100},"failurePercentage":{"threshold":85,"minimumHosts":5,"requestVolume":50},"childPolicy":[{"round_robin":{}}]}`,
		`{"failureStatusCodes":["UNAVAILABLE","INTERNAL"]}`, `{"childPolicy":[{"p2c_ewma":{"decay":"1s"}}]}`,
		`{"childPolicy":[{"pick_first":{"shuffleAddressList":true}}]}`, `{"interval":"1.5h"}`,
		`{"successRate":{"stdevFactor":0}}`, `{"maxEjectionPercent":1e2}`,
	}
	balancertest.FuzzParse(f, Name, ParseConfig, seeds, func(t *testing.T, js []byte, cfg *Config) {
		for _, d := range []time.Duration{cfg.Interval, cfg.BaseEjectionTime, cfg.MaxEjectionTime} {
			if d <= 0 || d > maxDuration {
				t.Errorf("accepted duration %v", d)
			}
		}
		if cfg.MaxEjectionPercent < 0 || cfg.MaxEjectionPercent > 100 {
			t.Errorf("accepted maxEjectionPercent %d", cfg.MaxEjectionPercent)
		}
		if cfg.ConsecutiveFailures == nil && cfg.SuccessRate == nil && cfg.FailurePercentage == nil {
			t.Error("accepted a config with no detector")
		}
		if c := cfg.ConsecutiveFailures; c != nil && (c.Threshold < 1 || c.Threshold > maxCount) {
			t.Errorf("accepted consecutiveFailures %+v", *c)
		}
		if s := cfg.SuccessRate; s != nil && (s.RequestVolume < 1 || s.EnforcementPercentage > 100 || s.StdevFactor < 0 || s.MinimumHosts < 0) {
			t.Errorf("accepted successRate %+v", *s)
		}
		if p := cfg.FailurePercentage; p != nil && (p.RequestVolume < 1 || p.Threshold > 100 || p.Threshold < 0 || p.EnforcementPercentage > 100) {
			t.Errorf("accepted failurePercentage %+v", *p)
		}
		if len(cfg.FailureCodes) == 0 {
			t.Error("accepted no failure codes")
		}
		for _, c := range cfg.FailureCodes {
			if c == codes.OK || c == codes.Canceled {
				t.Errorf("accepted failure code %v", c)
			}
		}
		if balancer.Get(cfg.ChildPolicy.Name) == nil {
			t.Errorf("accepted unregistered child %q", cfg.ChildPolicy.Name)
		}
		again := balancertest.Reparse(t, ParseConfig, cfg)
		again.ChildPolicy.Config, cfg.ChildPolicy.Config = nil, nil // parsed by the child, compared as JSON
		// The child's JSON may come back with other escapes ("&" as
		// "\u0026"): compare what it means.
		var a, b any
		if json.Unmarshal(again.ChildPolicy.JSON, &a) != nil || json.Unmarshal(cfg.ChildPolicy.JSON, &b) != nil || !reflect.DeepEqual(a, b) {
			t.Errorf("round trip of %q: child config %s then %s", js, cfg.ChildPolicy.JSON, again.ChildPolicy.JSON)
		}
		again.ChildPolicy.JSON, cfg.ChildPolicy.JSON = nil, nil
		if !reflect.DeepEqual(again, cfg) {
			t.Errorf("round trip of %q: %+v then %+v", js, cfg, again)
		}
	})
}
