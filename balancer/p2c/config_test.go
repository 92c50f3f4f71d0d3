package p2c

import (
	"testing"
	"time"

	"github.com/grpclb/grpclb/internal/balancertest"
)

func TestParseConfig(t *testing.T) {
	def := Config{Decay: DefaultDecay, DefaultRTT: DefaultRTT, ErrorPenalty: DefaultErrorPenalty,
		ProbeInterval: DefaultProbeInterval, Tolerance: DefaultTolerance, SlowStart: SlowStart{Aggression: 1, MinWeightPercent: 10}}
	with := balancertest.With(def)
	balancertest.CheckParsesEmpty(t, ParseConfig, def)
	balancertest.CheckParses(t, ParseConfig, map[string]Config{
		`{"decay": "10s", "defaultRTT": "10ms", "errorPenalty": "1s"}`: def,
		`{"decay": "30s"}`:          with(func(c *Config) { c.Decay = 30 * time.Second }),
		`{"decay": "0.5s"}`:         with(func(c *Config) { c.Decay = 500 * time.Millisecond }),
		`{"decay": "1.000000001s"}`: with(func(c *Config) { c.Decay = time.Second + 1 }),
		`{"decay": "1m30s"}`:        with(func(c *Config) { c.Decay = 90 * time.Second }),
		`{"decay": "1h"}`:           with(func(c *Config) { c.Decay = time.Hour }),
		`{"decay": "1ns"}`:          with(func(c *Config) { c.Decay = 1 }),
		`{"defaultRTT": "250us"}`:   with(func(c *Config) { c.DefaultRTT = 250 * time.Microsecond }),
		`{"defaultRTT": "250µs"}`:   with(func(c *Config) { c.DefaultRTT = 250 * time.Microsecond }),
		`{"defaultRTT": "0.030s"}`:  with(func(c *Config) { c.DefaultRTT = 30 * time.Millisecond }),
		`{"errorPenalty": "5s"}`:    with(func(c *Config) { c.ErrorPenalty = 5 * time.Second }),
		`{"errorPenalty": "0s"}`:    with(func(c *Config) { c.ErrorPenalty = 0 }),
		`{"errorPenalty": "0"}`:     with(func(c *Config) { c.ErrorPenalty = 0 }),
		`{"decay": null, "defaultRTT": null, "errorPenalty": null}`: def,
		`{"errorPenalty":"2s","decay":"20s"}`:                       with(func(c *Config) { c.Decay, c.ErrorPenalty = 20*time.Second, 2*time.Second }),
		`{"slowStart": {"window": "10s"}}`: with(func(c *Config) {
			c.SlowStart = SlowStart{Window: 10 * time.Second, Aggression: 1, MinWeightPercent: 10}
		}),
		`{"slowStart": {"window": "2s", "aggression": 2.5, "minWeightPercent": 5}}`: with(func(c *Config) {
			c.SlowStart = SlowStart{Window: 2 * time.Second, Aggression: 2.5, MinWeightPercent: 5}
		}),
		`{"slowStart": null}`:                        def,
		`{"probeInterval": "250ms"}`:                 with(func(c *Config) { c.ProbeInterval = 250 * time.Millisecond }),
		`{"tolerance": 1}`:                           with(func(c *Config) { c.Tolerance = 1 }),
		`{"tolerance": 1.5}`:                         with(func(c *Config) { c.Tolerance = 1.5 }),
		`{"tolerance": 100}`:                         with(func(c *Config) { c.Tolerance = 100 }),
		`{"tolerance": null, "probeInterval": null}`: def,
		"{\n\t\"decay\": \"5s\"\n}\n":                with(func(c *Config) { c.Decay = 5 * time.Second }),
	})
}

func TestParseConfigErrors(t *testing.T) {
	balancertest.CheckRefuses(t, Name, ParseConfig, map[string]string{
		`{"decay": "1s"`:                                     "not valid JSON",
		`{"decay" "1s"}`:                                     "not valid JSON",
		`{"decay": "1s",}`:                                   "not valid JSON",
		`{"decay": "1s", "decay": "2s"}`:                     `field "decay" given twice`,
		`{"colour": "red"}`:                                  `unknown field "colour"`,
		`{"Decay": "1s"}`:                                    `unknown field "Decay"`,
		`{"default_rtt": "1s"}`:                              `unknown field "default_rtt"`,
		`{"choiceCount": 2}`:                                 `unknown field "choiceCount"`,
		`{"decay": 10}`:                                      `field "decay": 10 is not a duration string such as "10s"`,
		`{"decay": 1e9}`:                                     `is not a duration string such as "10s"`,
		`{"decay": {"seconds": 10}}`:                         `is not a duration string such as "10s"`,
		`{"decay": ["1s"]}`:                                  `is not a duration string such as "10s"`,
		`{"decay": true}`:                                    `is not a duration string such as "10s"`,
		`{"decay": ""}`:                                      `field "decay": invalid duration ""`,
		`{"decay": "10"}`:                                    `field "decay": invalid duration "10"`,
		`{"decay": "ten seconds"}`:                           `field "decay": invalid duration "ten seconds"`,
		`{"decay": "10 s"}`:                                  `field "decay": invalid duration`,
		`{"decay": "0s"}`:                                    `field "decay": must be positive, got "0s"`,
		`{"decay": "-1s"}`:                                   `field "decay": must be positive, got "-1s"`,
		`{"decay": "61m"}`:                                   `field "decay": must be at most 1h0m0s, got "1h1m0s"`,
		`{"decay": "315576000000s"}`:                         `field "decay": invalid duration`,
		`{"defaultRTT": "0ms"}`:                              `field "defaultRTT": must be positive`,
		`{"defaultRTT": "-5ms"}`:                             `field "defaultRTT": must be positive`,
		`{"defaultRTT": "2h"}`:                               `field "defaultRTT": must be at most 1h0m0s`,
		`{"defaultRTT": 0.01}`:                               `field "defaultRTT": 0.01 is not a duration string`,
		`{"errorPenalty": "-1s"}`:                            `field "errorPenalty": must not be negative, got "-1s"`,
		`{"errorPenalty": "90m"}`:                            `field "errorPenalty": must be at most 1h0m0s`,
		`{"errorPenalty": "1 second"}`:                       `field "errorPenalty": invalid duration`,
		`{"probeInterval": "0s"}`:                            `field "probeInterval": must be positive`,
		`{"probeInterval": "2h"}`:                            `field "probeInterval": must be at most 1h0m0s`,
		`{"tolerance": 0.5}`:                                 `field "tolerance": must be in [1, 100], got 0.5`,
		`{"tolerance": 101}`:                                 `field "tolerance": must be in [1, 100], got 101`,
		`{"tolerance": "2"}`:                                 `field "tolerance": "2" is not a number`,
		`{"tolerance": 1, "tolerance": 2}`:                   `field "tolerance" given twice`,
		`{"slowStart": {"window": "-1s"}}`:                   `field "slowStart.window": must not be negative, got "-1s"`,
		`{"slowStart": {"window": "10s", "aggression": 0}}`:  `field "slowStart.aggression": must be in (0, 10], got 0`,
		`{"slowStart": {"minWeightPercent": 150}}`:           `field "slowStart.minWeightPercent": must be in (0, 100], got 150`,
		`{"slowStart": {"windw": "1s"}}`:                     `field "slowStart": unknown field "windw" (known fields: "window", "aggression", "minWeightPercent")`,
		`{"slowStart": {"window": "1s", "window": "2s"}}`:    `field "slowStart": field "window" given twice`,
		`{"slowStart": "10s"}`:                               `field "slowStart": must be a JSON object, got a string`,
		`{"slowStart": {"window": "1s"}, "slowStart": null}`: `field "slowStart" given twice`,
	})
}

// The registered builder parses configs the same way, and its errors come
// back as a nil LoadBalancingConfig, not a typed nil.
func TestBuilderParseConfig(t *testing.T) {
	cfg := balancertest.BuilderParses(t, Name, `{"decay":"3s"}`, `{"decay":"-3s"}`)
	if c, ok := cfg.(*Config); !ok || c.Decay != 3*time.Second || c.DefaultRTT != DefaultRTT {
		t.Errorf("ParseConfig = %#v, want *Config with Decay 3s and defaults", cfg)
	}
}

// MarshalJSON writes every field, in the form ParseConfig reads.
func TestMarshalJSON(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{}`, `{"decay":"10s","defaultRTT":"10ms","errorPenalty":"1s","probeInterval":"1s","tolerance":3,` +
			`"slowStart":{"window":"0s","aggression":1,"minWeightPercent":10}}`},
		{`{"decay":"1m30s","tolerance":1.5,"slowStart":{"window":"30s","minWeightPercent":5}}`,
			`{"decay":"1m30s","defaultRTT":"10ms","errorPenalty":"1s","probeInterval":"1s","tolerance":1.5,` +
				`"slowStart":{"window":"30s","aggression":1,"minWeightPercent":5}}`},
	} {
		balancertest.MarshalsAs(t, ParseConfig, tc.in, tc.want)
	}
}

func FuzzParseConfig(f *testing.F) {
	seeds := []string{
		`{"decay": "10s", "defaultRTT": "10ms", "errorPenalty": "1s"}`,
		`{"decay": "0.5s"}`,
		`{"decay": "1.000000001s", "errorPenalty": "0"}`,
		`{"defaultRTT": "250µs"}`,
		`{"decay": null}`,
		`{"decay": "1s", "decay": "2s"}`,
		`{"colour": "red"}`,
		`{"decay": 10}`,
		`{"decay": "-1s"}`,
		`{"decay": "2h"}`,
		`{"decay": "1s",}`,
		`{"slowStart": {"window": "10s", "aggression": 2.5, "minWeightPercent": 5}, "tolerance": 1.5}`,
		`{"slowStart": {"windw": "1s"}}`,
		`{"slowStart": "10s"}`,
	}
	const maxDuration = time.Hour // the bound of every duration field
	balancertest.FuzzParse(f, Name, ParseConfig, seeds, func(t *testing.T, js []byte, cfg *Config) {
		if cfg.Decay <= 0 || cfg.Decay > maxDuration || cfg.DefaultRTT <= 0 || cfg.DefaultRTT > maxDuration ||
			cfg.ErrorPenalty < 0 || cfg.ErrorPenalty > maxDuration {
			t.Errorf("ParseConfig(%q) = %+v: a field out of range", js, cfg)
		}
		ss := cfg.SlowStart
		if ss.Window < 0 || ss.Window > maxDuration || !(ss.Aggression > 0 && ss.Aggression <= 10) ||
			!(ss.MinWeightPercent > 0 && ss.MinWeightPercent <= 100) {
			t.Errorf("ParseConfig(%q) = %+v: a slowStart field out of range", js, cfg)
		}
		// The config written back parses to itself.
		balancertest.RoundTrips(t, ParseConfig, cfg)
	})
}
