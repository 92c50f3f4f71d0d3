package hedge_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/grpclb/grpclb/hedge"
	"github.com/grpclb/grpclb/internal/balancertest"
)

func TestParseConfig(t *testing.T) {
	def := hedge.DefaultConfig()
	with := func(f func(*hedge.Config)) *hedge.Config {
		c := hedge.DefaultConfig()
		f(c)
		return c
	}
	for _, tc := range []struct {
		in      string
		want    *hedge.Config
		wantErr string
	}{
		{in: ``, want: def},
		{in: `  `, want: def},
		{in: `null`, want: def},
		{in: `{}`, want: def},
		{in: `{"hedgingDelay": null, "methods": null}`, want: def},
		{in: `{
			"methods": ["/shop.Catalog/GetItem", "/shop.Search/*"],
			"hedgingDelay": "5ms", "adaptiveDelay": 0.95, "maxAttempts": 3,
			"budget": 0.05, "budgetBurst": 20, "nonFatalStatusCodes": ["UNAVAILABLE", 8]
		}`, want: &hedge.Config{
			Methods:      []string{"/shop.Catalog/GetItem", "/shop.Search/*"},
			HedgingDelay: 5 * time.Millisecond, AdaptiveDelay: 0.95, MaxAttempts: 3,
			Budget: 0.05, BudgetBurst: 20, NonFatalStatusCodes: []codes.Code{codes.Unavailable, codes.ResourceExhausted},
		}},
		// A gRPC hedgingPolicy parses as it is.
		{in: `{"maxAttempts": 3, "hedgingDelay": "0.5s", "nonFatalStatusCodes": ["UNAVAILABLE", "INTERNAL"]}`,
			want: with(func(c *hedge.Config) {
				c.MaxAttempts, c.HedgingDelay, c.AdaptiveDelay = 3, 500*time.Millisecond, 0
				c.NonFatalStatusCodes = []codes.Code{codes.Unavailable, codes.Internal}
			})},
		// A delay alone is fixed; with a quantile it is where the adaptive delay starts.
		{in: `{"hedgingDelay": "0s"}`, want: with(func(c *hedge.Config) { c.HedgingDelay, c.AdaptiveDelay = 0, 0 })},
		{in: `{"hedgingDelay": "5ms", "adaptiveDelay": 0.9}`, want: with(func(c *hedge.Config) { c.HedgingDelay, c.AdaptiveDelay = 5*time.Millisecond, 0.9 })},
		{in: `{"adaptiveDelay": 0.99}`, want: with(func(c *hedge.Config) { c.AdaptiveDelay = 0.99 })},
		{in: `{"adaptiveDelay": 0}`, want: with(func(c *hedge.Config) { c.AdaptiveDelay = 0 })},
		{in: `{"nonFatalStatusCodes": []}`, want: with(func(c *hedge.Config) { c.NonFatalStatusCodes = []codes.Code{} })},

		{in: `[]`, wantErr: `hedge: config must be a JSON object, got an array`},
		{in: `"x"`, wantErr: `hedge: config must be a JSON object, got a string`},
		{in: `{`, wantErr: `hedge: config is not valid JSON: EOF`},
		{in: `{} {}`, wantErr: `hedge: config is not valid JSON: unexpected data after the config object`},
		{in: `{"delay": "10ms"}`, wantErr: `hedge: unknown field "delay" (known fields: "methods", "hedgingDelay", "adaptiveDelay", "maxAttempts", "budget", "budgetBurst", "nonFatalStatusCodes")`},
		{in: `{"budget": 0.1, "budget": 0.2}`, wantErr: `hedge: field "budget" given twice`},
		{in: `{"methods": "/a.B/C"}`, wantErr: `hedge: field "methods": "/a.B/C" is not a list of strings`},
		{in: `{"methods": ["a.B/C"]}`, wantErr: `hedge: field "methods": "a.B/C": want a full method name such as "/package.Service/Method" or "/package.Service/*"`},
		{in: `{"hedgingDelay": 10}`, wantErr: `hedge: field "hedgingDelay": 10 is not a duration string such as "10s" or "250ms"`},
		{in: `{"hedgingDelay": "10"}`, wantErr: `hedge: field "hedgingDelay": invalid duration "10": want a duration such as "10s" or "250ms"`},
		{in: `{"hedgingDelay": "-1ms"}`, wantErr: `hedge: field "hedgingDelay": must not be negative, got "-1ms"`},
		{in: `{"hedgingDelay": "2h"}`, wantErr: `hedge: field "hedgingDelay": must be at most 1h0m0s, got "2h0m0s"`},
		{in: `{"adaptiveDelay": 95}`, wantErr: `hedge: field "adaptiveDelay": must be a quantile strictly between 0 and 1, such as 0.95, got 95`},
		{in: `{"adaptiveDelay": "p95"}`, wantErr: `hedge: field "adaptiveDelay": "p95" is not a number`},
		{in: `{"maxAttempts": 2.5}`, wantErr: `hedge: field "maxAttempts": 2.5 is not an integer`},
		{in: `{"maxAttempts": 1}`, wantErr: `hedge: field "maxAttempts": must be between 2 and 5 (the first attempt included), got 1`},
		{in: `{"budget": 0}`, wantErr: `hedge: field "budget": must be a ratio of extra attempts to calls in (0, 1], such as 0.1, got 0`},
		{in: `{"budgetBurst": 0}`, wantErr: `hedge: field "budgetBurst": must be between 1 and 10000, got 0`},
		{in: `{"nonFatalStatusCodes": "UNAVAILABLE"}`, wantErr: `hedge: field "nonFatalStatusCodes": "UNAVAILABLE" is not a list of status code names such as ["UNAVAILABLE"]`},
		{in: `{"nonFatalStatusCodes": ["Unavailable"]}`, wantErr: `hedge: field "nonFatalStatusCodes": unknown status code "Unavailable" (want names such as "UNAVAILABLE" or "DEADLINE_EXCEEDED")`},
		{in: `{"nonFatalStatusCodes": [17]}`, wantErr: `hedge: field "nonFatalStatusCodes": unknown status code 17 (want 0 to 16, or a name such as "UNAVAILABLE")`},
		{in: `{"nonFatalStatusCodes": ["OK"]}`, wantErr: `hedge: field "nonFatalStatusCodes": OK is an answer and cannot be non-fatal`},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := hedge.ParseConfig([]byte(tc.in))
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("ParseConfig: %+v, %v; want error %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParseConfig = %+v, want %+v", got, tc.want)
			}
			if _, err := hedge.New(got.Options()...); err != nil {
				t.Errorf("New(Options()): %v", err)
			}
		})
	}
}

func FuzzParseConfig(f *testing.F) {
	for _, s := range []string{
		``,
		`null`,
		`{}`,
		`{"methods": ["/a.B/C", "/a.B/*"], "hedgingDelay": "10ms", "adaptiveDelay": 0.95, "maxAttempts": 2, "budget": 0.1, "budgetBurst": 10, "nonFatalStatusCodes": ["UNAVAILABLE", 8]}`,
		`{"maxAttempts": 3, "hedgingDelay": "0.5s", "nonFatalStatusCodes": []}`,
		`{"hedgingDelay": "1.000000001s"}`,
		`{"methods": ["a/b"]}`,
		`{"budget": 1e-9}`,
		`{"budgetBurst": 1e3}`,
		`{"adaptiveDelay": 0.9999999999999999}`,
		`{"nonFatalStatusCodes": ["OK"]}`,
		`{"budget": 0.1, "budget": 0.2}`,
		`{"colour": "red"}`,
		`{} {}`,
		`[]`,
		`{"budget": 0.1,}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cfg, err := hedge.ParseConfig([]byte(s))
		if err != nil {
			balancertest.CheckError(t, "hedge", cfg, err)
			return
		}
		// Only valid JSON is accepted (or an empty config).
		if strings.TrimSpace(s) != "" && !json.Valid([]byte(s)) {
			t.Errorf("ParseConfig(%q) accepted invalid JSON", s)
		}
		// Whatever parses makes a Hedger.
		if _, err := hedge.New(cfg.Options()...); err != nil {
			t.Errorf("ParseConfig(%q) = %+v, which New rejects: %v", s, cfg, err)
		}
		// The config written back parses to itself.
		methods, _ := json.Marshal(cfg.Methods)
		cs := make([]string, len(cfg.NonFatalStatusCodes))
		for i, c := range cfg.NonFatalStatusCodes {
			cs[i] = fmt.Sprint(uint32(c))
		}
		again := fmt.Sprintf(`{"methods":%s,"hedgingDelay":%q,"adaptiveDelay":%v,"maxAttempts":%d,"budget":%v,"budgetBurst":%d,"nonFatalStatusCodes":[%s]}`,
			methods, cfg.HedgingDelay, cfg.AdaptiveDelay, cfg.MaxAttempts, cfg.Budget, cfg.BudgetBurst, strings.Join(cs, ","))
		cfg2, err := hedge.ParseConfig([]byte(again))
		if err != nil {
			t.Fatalf("ParseConfig(%q): %v", again, err)
		}
		if cfg.Methods == nil {
			cfg.Methods = []string{}
		}
		if cfg2.Methods == nil {
			cfg2.Methods = []string{}
		}
		if !reflect.DeepEqual(cfg2, cfg) {
			t.Errorf("ParseConfig(%q) = %+v, want %+v", again, cfg2, cfg)
		}
	})
}
