package p2c

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/grpclb/grpclb/internal/jsonconf"
	"github.com/grpclb/grpclb/internal/slowstart"

	"google.golang.org/grpc/serviceconfig"
)

// Defaults of the configuration fields.
const (
	// DefaultDecay is the default time constant of the EWMA (Finagle's and
	// Linkerd's default).
	DefaultDecay = 10 * time.Second
	// DefaultRTT is the default latency an endpoint is assumed to have before
	// any of its calls has finished.
	DefaultRTT = 10 * time.Millisecond
	// DefaultErrorPenalty is the default latency a call that failed with an
	// unwell code counts as, at least.
	DefaultErrorPenalty = time.Second
	// DefaultProbeInterval is how long an endpoint may go without a pick
	// before the next pick that meets it probes it.
	DefaultProbeInterval = time.Second
	// DefaultTolerance is the factor within which two endpoints' costs count
	// as equal.
	DefaultTolerance = 3.0
)

// Config is the parsed configuration of the p2c_ewma policy. Its JSON form,
// in a service config's loadBalancingConfig, is
//
//	{"decay": "10s", "defaultRTT": "10ms", "errorPenalty": "1s",
//	 "probeInterval": "1s", "tolerance": 3}
//
// where every field is optional. See the package documentation for what
// each field does. Durations beyond an hour and tolerances beyond 100 are
// surely mistakes (a unit typed wrong) and are refused.
type Config struct {
	serviceconfig.LoadBalancingConfig `json:"-"`

	// Decay is the time constant of the EWMA: a sample's weight falls to
	// 1/e after Decay. In (0, 1h]; default DefaultDecay.
	Decay time.Duration `json:"decay" range:"(0,1h]"`
	// DefaultRTT is the latency a new endpoint starts with. In (0, 1h];
	// default DefaultRTT.
	DefaultRTT time.Duration `json:"defaultRTT" range:"(0,1h]"`
	// ErrorPenalty is the latency a call that failed with an unwell code
	// counts as when it failed faster than that. In [0, 1h]; 0 counts such
	// calls with their own latency. Default DefaultErrorPenalty.
	ErrorPenalty time.Duration `json:"errorPenalty" range:"[0,1h]"`
	// ProbeInterval is how long an endpoint may go without being picked
	// (and without a sample) before the next pick that draws it takes it
	// whatever its cost; a sample after that long replaces the EWMA
	// instead of being averaged into it. A recovered backend gets calls
	// again within about this long. In (0, 1h]; default
	// DefaultProbeInterval.
	ProbeInterval time.Duration `json:"probeInterval" range:"(0,1h]"`
	// Tolerance is the factor within which two endpoints' costs count as
	// equal: such endpoints take turns instead of the cheaper one winning,
	// so noise never skews the spread over identical backends. 1 makes
	// every cost difference count (classic P2C). In [1, 100]; default
	// DefaultTolerance.
	Tolerance float64 `json:"tolerance" range:"[1,100]"`
	// SlowStart, when its Window is set, ramps up the share of an endpoint
	// that has just become READY, new or back after a failure. Default:
	// off.
	SlowStart SlowStart `json:"slowStart"`
}

// SlowStart configures slow start, as Envoy's: for Window after an
// endpoint's ramp starts (see the package documentation for when), its
// latency is divided by, and its turns and probes spaced by,
//
//	max(MinWeightPercent/100, (time since the start / Window)^(1/Aggression))
//
// so a cold backend looks dearer than it is and gets a growing share
// instead of a flood. Its JSON form is
//
//	{"window": "10s", "aggression": 1.0, "minWeightPercent": 10}
//
// which is also the form wrr's slowStart takes. Window, in [0, 1h], is how
// long the ramp lasts (0, the default, turns slow start off); Aggression,
// in (0, 10], default 1, shapes it (1 is linear, above 1 faster at first);
// MinWeightPercent, in (0, 100], default 10, is the share, in percent of a
// warm endpoint's, that it starts with. A zero Aggression or
// MinWeightPercent stands for its default.
type SlowStart = slowstart.Config

// defaultConfig returns a Config with every field at its default.
func defaultConfig() *Config {
	return &Config{Decay: DefaultDecay, DefaultRTT: DefaultRTT, ErrorPenalty: DefaultErrorPenalty,
		ProbeInterval: DefaultProbeInterval, Tolerance: DefaultTolerance, SlowStart: slowstart.Default()}
}

// MarshalJSON returns the config in the JSON form ParseConfig reads, every
// field given, so that the effective config can be logged or compared.
func (c Config) MarshalJSON() ([]byte, error) { return jsonconf.Marshal(c) }

// ParseConfig parses the JSON configuration of the p2c_ewma policy, the
// value of its key in a service config's loadBalancingConfig, for example
//
//	{"decay": "10s", "defaultRTT": "10ms", "errorPenalty": "1s"}
//
// Durations are strings in Go's time.ParseDuration form ("250ms", "1m30s"),
// which covers protobuf's JSON form of google.protobuf.Duration ("10s",
// "0.5s", "1.000000001s"). Missing fields, null values and an empty or null
// config take the defaults. Unknown or repeated fields, values of the wrong
// type and durations out of range are rejected with an error that names the
// field.
func ParseConfig(js json.RawMessage) (*Config, error) {
	cfg := defaultConfig()
	if err := jsonconf.Decode(js, cfg); err != nil {
		return nil, fmt.Errorf("p2c_ewma: %w", err)
	}
	return cfg, nil
}
