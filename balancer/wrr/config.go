package wrr

import (
	"encoding/json"
	"fmt"

	"github.com/grpclb/grpclb/internal/jsonconf"
	"github.com/grpclb/grpclb/internal/slowstart"

	"google.golang.org/grpc/serviceconfig"
)

// Defaults of the slowStart fields (the same as Envoy's and p2c_ewma's).
const (
	// DefaultAggression is the default shape of the ramp: linear.
	DefaultAggression = slowstart.DefaultAggression
	// DefaultMinWeightPercent is the default share, in percent of its
	// weight, that an endpoint starts its ramp with.
	DefaultMinWeightPercent = slowstart.DefaultMinWeightPercent
)

// Config is the parsed configuration of the wrr policy. Its JSON form, in a
// service config's loadBalancingConfig, is
//
//	{"slowStart": {"window": "10s", "aggression": 1.0, "minWeightPercent": 10}}
//
// where every field is optional; without slowStart (or with a zero window)
// there is no ramp. See the package documentation for what each field does.
// json.Marshal writes it in the same form, every field given.
type Config struct {
	serviceconfig.LoadBalancingConfig `json:"-"`

	// SlowStart ramps up the share of an endpoint that has just become
	// READY, new or back after a failure. Off when its Window is 0 (the
	// default).
	SlowStart SlowStart `json:"slowStart"`
}

// SlowStart configures slow start, as Envoy's: for Window after an
// endpoint's ramp starts (see the package documentation for when), its
// weight is multiplied by
//
//	max(MinWeightPercent/100, (time since the start / Window)^(1/Aggression))
//
// Its JSON form is
//
//	{"window": "10s", "aggression": 1.0, "minWeightPercent": 10}
//
// which is also the form p2c_ewma's slowStart takes. Window, in [0, 1h], is
// how long the ramp lasts (0, the default, turns slow start off);
// Aggression, in (0, 10], default DefaultAggression, shapes it (1 is
// linear, above 1 faster at first, below 1 slower); MinWeightPercent, in
// (0, 100], default DefaultMinWeightPercent, is the fraction of its weight,
// in percent, that an endpoint starts with. A zero Aggression or
// MinWeightPercent stands for its default.
type SlowStart = slowstart.Config

// defaultConfig returns a Config with every field at its default: no ramp.
func defaultConfig() *Config {
	return &Config{SlowStart: slowstart.Default()}
}

// ParseConfig parses the JSON configuration of the wrr policy, the value of
// its key in a service config's loadBalancingConfig, for example
//
//	{"slowStart": {"window": "10s", "aggression": 1.0, "minWeightPercent": 10}}
//
// The window is a string in Go's time.ParseDuration form ("250ms", "1m30s"),
// which covers protobuf's JSON form of google.protobuf.Duration ("10s",
// "0.5s"); aggression and minWeightPercent are JSON numbers. Missing fields,
// null values and an empty or null config take the defaults. Unknown or
// repeated fields, values of the wrong type and values out of range are
// rejected with an error that names the field.
func ParseConfig(js json.RawMessage) (*Config, error) {
	cfg := defaultConfig()
	if err := jsonconf.Decode(js, cfg); err != nil {
		return nil, fmt.Errorf("wrr: %w", err)
	}
	return cfg, nil
}
