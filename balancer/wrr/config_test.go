package wrr

import (
	"testing"
	"time"

	"github.com/grpclb/grpclb/internal/balancertest"
)

func TestParseConfig(t *testing.T) {
	def := Config{SlowStart: SlowStart{Aggression: DefaultAggression, MinWeightPercent: DefaultMinWeightPercent}}
	with := balancertest.With(def)
	balancertest.CheckParsesEmpty(t, ParseConfig, def)
	balancertest.CheckParses(t, ParseConfig, map[string]Config{
		`{"slowStart": null}`:              def,
		`{"slowStart": {}}`:                def,
		`{"slowStart": {"window": "10s"}}`: with(func(c *Config) { c.SlowStart.Window = 10 * time.Second }),
		`{"slowStart": {"window": "10s", "aggression": 1.0, "minWeightPercent": 10}}`: with(func(c *Config) { c.SlowStart.Window = 10 * time.Second }),
		`{"slowStart": {"window": "2s", "aggression": 2.5, "minWeightPercent": 5}}`: with(func(c *Config) {
			c.SlowStart.Window, c.SlowStart.Aggression, c.SlowStart.MinWeightPercent = 2*time.Second, 2.5, 5
		}),
		`{"slowStart": {"window": "0.5s"}}`:                                             with(func(c *Config) { c.SlowStart.Window = 500 * time.Millisecond }),
		`{"slowStart": {"window": "1m30s"}}`:                                            with(func(c *Config) { c.SlowStart.Window = 90 * time.Second }),
		`{"slowStart": {"window": "1h"}}`:                                               with(func(c *Config) { c.SlowStart.Window = time.Hour }),
		`{"slowStart": {"window": "250µs"}}`:                                            with(func(c *Config) { c.SlowStart.Window = 250 * time.Microsecond }),
		`{"slowStart": {"window": "0s"}}`:                                               def,
		`{"slowStart": {"window": "0"}}`:                                                def,
		`{"slowStart": {"aggression": 10}}`:                                             with(func(c *Config) { c.SlowStart.Aggression = 10 }),
		`{"slowStart": {"aggression": 0.01}}`:                                           with(func(c *Config) { c.SlowStart.Aggression = 0.01 }),
		`{"slowStart": {"aggression": 2e0}}`:                                            with(func(c *Config) { c.SlowStart.Aggression = 2 }),
		`{"slowStart": {"minWeightPercent": 100}}`:                                      with(func(c *Config) { c.SlowStart.MinWeightPercent = 100 }),
		`{"slowStart": {"minWeightPercent": 0.5}}`:                                      with(func(c *Config) { c.SlowStart.MinWeightPercent = 0.5 }),
		`{"slowStart": {"window": null, "aggression": null, "minWeightPercent": null}}`: def,
		`{"slowStart":{"minWeightPercent":1,"window":"3s"}}`:                            with(func(c *Config) { c.SlowStart.Window, c.SlowStart.MinWeightPercent = 3*time.Second, 1 }),
		"{\n\t\"slowStart\": {\n\t\t\"window\": \"5s\"\n\t}\n}\n":                       with(func(c *Config) { c.SlowStart.Window = 5 * time.Second }),
	})
}

func TestParseConfigErrors(t *testing.T) {
	balancertest.CheckRefuses(t, Name, ParseConfig, map[string]string{
		`{"slowStart": {}`:                                "not valid JSON",
		`{"slowStart" {}}`:                                "not valid JSON",
		`{"slowStart": {},}`:                              "not valid JSON",
		`{"slowStart": {"window": "1s",}}`:                "not valid JSON",
		`{"colour": "red"}`:                               `unknown field "colour" (known fields: "slowStart")`,
		`{"SlowStart": {}}`:                               `unknown field "SlowStart"`,
		`{"slow_start": {}}`:                              `unknown field "slow_start"`,
		`{"window": "10s"}`:                               `unknown field "window"`,
		`{"slowStart": {}, "slowStart": {}}`:              `field "slowStart" given twice`,
		`{"slowStart": "10s"}`:                            `field "slowStart": must be a JSON object, got a string`,
		`{"slowStart": 10}`:                               `field "slowStart": must be a JSON object`,
		`{"slowStart": []}`:                               `field "slowStart": must be a JSON object, got an array`,
		`{"slowStart": true}`:                             `field "slowStart": must be a JSON object`,
		`{"slowStart": {"windw": "1s"}}`:                  `field "slowStart": unknown field "windw" (known fields: "window", "aggression", "minWeightPercent")`,
		`{"slowStart": {"Window": "1s"}}`:                 `field "slowStart": unknown field "Window"`,
		`{"slowStart": {"window": "1s", "window": "2s"}}`: `field "slowStart": field "window" given twice`,
		`{"slowStart": {"window": 10}}`:                   `field "slowStart.window": 10 is not a duration string such as "10s"`,
		`{"slowStart": {"window": {"seconds": 10}}}`:      `field "slowStart.window": {"seconds": 10} is not a duration string`,
		`{"slowStart": {"window": ""}}`:                   `field "slowStart.window": invalid duration ""`,
		`{"slowStart": {"window": "10"}}`:                 `field "slowStart.window": invalid duration "10"`,
		`{"slowStart": {"window": "ten seconds"}}`:        `field "slowStart.window": invalid duration "ten seconds"`,
		`{"slowStart": {"window": "-1s"}}`:                `field "slowStart.window": must not be negative, got "-1s"`,
		`{"slowStart": {"window": "61m"}}`:                `field "slowStart.window": must be at most 1h0m0s, got "1h1m0s"`,
		`{"slowStart": {"window": "315576000000s"}}`:      `field "slowStart.window": invalid duration`,
		`{"slowStart": {"aggression": 0}}`:                `field "slowStart.aggression": must be in (0, 10], got 0`,
		`{"slowStart": {"aggression": -1}}`:               `field "slowStart.aggression": must be in (0, 10], got -1`,
		`{"slowStart": {"aggression": 11}}`:               `field "slowStart.aggression": must be in (0, 10], got 11`,
		`{"slowStart": {"aggression": 1e400}}`:            `field "slowStart.aggression": 1e400 is not a number`,
		`{"slowStart": {"aggression": "1.0"}}`:            `field "slowStart.aggression": "1.0" is not a number`,
		`{"slowStart": {"aggression": [1]}}`:              `field "slowStart.aggression": [1] is not a number`,
		`{"slowStart": {"minWeightPercent": 0}}`:          `field "slowStart.minWeightPercent": must be in (0, 100], got 0`,
		`{"slowStart": {"minWeightPercent": 150}}`:        `field "slowStart.minWeightPercent": must be in (0, 100], got 150`,
		`{"slowStart": {"minWeightPercent": -5}}`:         `field "slowStart.minWeightPercent": must be in (0, 100], got -5`,
		`{"slowStart": {"minWeightPercent": "10%"}}`:      `field "slowStart.minWeightPercent": "10%" is not a number`,
	})
}

// The registered builder parses configs the same way, and its errors come
// back as a nil LoadBalancingConfig, not a typed nil.
func TestBuilderParseConfig(t *testing.T) {
	cfg := balancertest.BuilderParses(t, Name, `{"slowStart":{"window":"3s"}}`, `{"slowStart":{"window":"-3s"}}`)
	if c, ok := cfg.(*Config); !ok || c.SlowStart.Window != 3*time.Second || c.SlowStart.MinWeightPercent != DefaultMinWeightPercent {
		t.Errorf("ParseConfig = %#v, want *Config with window 3s and defaults", cfg)
	}
}

// MarshalJSON writes every field, in the form ParseConfig reads.
func TestMarshalJSON(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{``, `{"slowStart":{"window":"0s","aggression":1,"minWeightPercent":10}}`},
		{`{"slowStart": {"window": "1m30s", "aggression": 2.5}}`, `{"slowStart":{"window":"1m30s","aggression":2.5,"minWeightPercent":10}}`},
	} {
		balancertest.MarshalsAs(t, ParseConfig, tc.in, tc.want)
	}
}

func FuzzParseConfig(f *testing.F) {
	seeds := []string{
		`{"slowStart": null}`,
		`{"slowStart": {}}`,
		`{"slowStart": {"window": "10s", "aggression": 1.0, "minWeightPercent": 10}}`,
		`{"slowStart": {"window": "0.5s", "aggression": 2.5}}`,
		`{"slowStart": {"window": "250µs", "minWeightPercent": 0.5}}`,
		`{"slowStart": {"window": "1s", "window": "2s"}}`,
		`{"slowStart": {"windw": "1s"}}`,
		`{"slowStart": {"window": 10}}`,
		`{"slowStart": {"aggression": 0}}`,
		`{"slowStart": {"minWeightPercent": 1e400}}`,
		`{"slowStart": "10s"}`,
		`{"colour": "red"}`,
		`{"slowStart": {},}`,
	}
	balancertest.FuzzParse(f, Name, ParseConfig, seeds, func(t *testing.T, js []byte, cfg *Config) {
		ss := cfg.SlowStart
		if ss.Window < 0 || ss.Window > time.Hour || !(ss.Aggression > 0 && ss.Aggression <= 10) ||
			!(ss.MinWeightPercent > 0 && ss.MinWeightPercent <= 100) {
			t.Errorf("ParseConfig(%q) = %+v: a field out of range", js, cfg)
		}
		// Every factor is in (0, 1].
		for _, age := range []time.Duration{-1, 0, 1, ss.Window / 3, ss.Window - 1, ss.Window} {
			if f := ss.Factor(age); !(f > 0 && f <= 1) {
				t.Errorf("%+v: Factor(%v) = %v, want in (0, 1]", ss, age, f)
			}
		}
		// The config written back parses to itself.
		balancertest.RoundTrips(t, ParseConfig, cfg)
	})
}
