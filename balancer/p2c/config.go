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

// maxTolerance bounds Tolerance: beyond it the policy is round robin with
// extra steps.
const maxTolerance = 100

// maxDuration bounds every configured duration: larger values are surely
// mistakes (a unit typed wrong) and would only hide a backend for hours.
const maxDuration = time.Hour

// Config is the parsed configuration of the p2c_ewma policy. Its JSON form,
// in a service config's loadBalancingConfig, is
//
//	{"decay": "10s", "defaultRTT": "10ms", "errorPenalty": "1s",
//	 "probeInterval": "1s", "tolerance": 3}
//
// where every field is optional. See the package documentation for what
// each field does.
type Config struct {
	serviceconfig.LoadBalancingConfig `json:"-"`

	// Decay is the time constant of the EWMA: a sample's weight falls to
	// 1/e after Decay. In (0, 1h]; default DefaultDecay.
	Decay time.Duration
	// DefaultRTT is the latency a new endpoint starts with. In (0, 1h];
	// default DefaultRTT.
	DefaultRTT time.Duration
	// ErrorPenalty is the latency a call that failed with an unwell code
	// counts as when it failed faster than that. In [0, 1h]; 0 counts such
	// calls with their own latency. Default DefaultErrorPenalty.
	ErrorPenalty time.Duration
	// ProbeInterval is how long an endpoint may go without being picked
	// (and without a sample) before the next pick that draws it takes it
	// whatever its cost; a sample after that long replaces the EWMA
	// instead of being averaged into it. A recovered backend gets calls
	// again within about this long. In (0, 1h]; default
	// DefaultProbeInterval.
	ProbeInterval time.Duration
	// Tolerance is the factor within which two endpoints' costs count as
	// equal: such endpoints take turns instead of the cheaper one winning,
	// so noise never skews the spread over identical backends. 1 makes
	// every cost difference count (classic P2C). In [1, 100]; default
	// DefaultTolerance.
	Tolerance float64
	// SlowStart, when its Window is set, ramps up the share of an endpoint
	// that has just become READY, new or back after a failure. Default:
	// off.
	SlowStart SlowStart
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
func (c Config) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Decay         string    `json:"decay"`
		DefaultRTT    string    `json:"defaultRTT"`
		ErrorPenalty  string    `json:"errorPenalty"`
		ProbeInterval string    `json:"probeInterval"`
		Tolerance     float64   `json:"tolerance"`
		SlowStart     SlowStart `json:"slowStart"`
	}{c.Decay.String(), c.DefaultRTT.String(), c.ErrorPenalty.String(), c.ProbeInterval.String(), c.Tolerance, c.SlowStart})
}

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
	d := defaultConfig()
	j := struct {
		Decay         jsonconf.Duration `json:"decay"`
		DefaultRTT    jsonconf.Duration `json:"defaultRTT"`
		ErrorPenalty  jsonconf.Duration `json:"errorPenalty"`
		ProbeInterval jsonconf.Duration `json:"probeInterval"`
		SlowStart     *slowstart.JSON   `json:"slowStart"`
		Tolerance     float64           `json:"tolerance"`
	}{jsonconf.Duration(d.Decay), jsonconf.Duration(d.DefaultRTT), jsonconf.Duration(d.ErrorPenalty), jsonconf.Duration(d.ProbeInterval), nil, d.Tolerance}
	if err := jsonconf.Decode(js, &j); err != nil {
		return nil, fmt.Errorf("p2c_ewma: %w", err)
	}
	errs := []error{
		jsonconf.DurationIn("decay", j.Decay, false, maxDuration),
		jsonconf.DurationIn("defaultRTT", j.DefaultRTT, false, maxDuration),
		jsonconf.DurationIn("errorPenalty", j.ErrorPenalty, true, maxDuration),
		jsonconf.DurationIn("probeInterval", j.ProbeInterval, false, maxDuration),
	}
	if !(j.Tolerance >= 1 && j.Tolerance <= maxTolerance) {
		errs = append(errs, &jsonconf.FieldError{Path: "tolerance", Err: fmt.Errorf("%v must be in [1, %d]", j.Tolerance, maxTolerance)})
	}
	ss, err := j.SlowStart.Config("slowStart")
	for _, err := range append(errs, err) {
		if err != nil {
			return nil, fmt.Errorf("p2c_ewma: %w", err)
		}
	}
	return &Config{Decay: time.Duration(j.Decay), DefaultRTT: time.Duration(j.DefaultRTT), ErrorPenalty: time.Duration(j.ErrorPenalty),
		ProbeInterval: time.Duration(j.ProbeInterval), Tolerance: j.Tolerance, SlowStart: ss}, nil
}
