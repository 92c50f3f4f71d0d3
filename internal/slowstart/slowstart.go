// Package slowstart is the slow start that grpclb's p2c_ewma and wrr
// policies share: its config, its ramp and the rule that says when an
// endpoint's ramp starts.
//
// A backend that has just started is not ready for its full share of the
// calls: its caches are cold, its JIT has compiled nothing, its connection
// pools to databases and other services are still to fill. Flooded at once
// it answers slowly, times out or falls over, and in a rolling deploy every
// new pod goes through this in turn. Slow start, as Envoy's, gives such an
// endpoint a small share of the calls and raises it over a window, so that
// it warms up on real traffic: for Window after its ramp starts, an
// endpoint's weight is multiplied by
//
//	max(MinWeightPercent/100, (time since the start / Window)^(1/Aggression))
//
// (Config.Factor), and then by 1.
//
// # When a ramp starts
//
// A Tracker follows the endpoints' connectivity states and starts an
// endpoint's ramp when it becomes READY
//
//   - for the first time: a new endpoint in the resolver's set, or every
//     endpoint when the channel starts; or
//   - again after it was in TRANSIENT_FAILURE: its connection attempts
//     failed (the backend was down, or restarting) or client-side health
//     checking reported it unhealthy, so it is taken to be cold.
//
// A reconnection that never went through TRANSIENT_FAILURE (IDLE,
// CONNECTING, READY: a graceful GOAWAY such as a server's
// MaxConnectionAge sends, or a lost connection whose first new attempt
// succeeded) keeps the endpoint's place on its ramp, or its being warm: a
// healthy backend is not throttled at every connection-age cycle. (A
// backend process that restarts so fast that the first attempt to reach it
// succeeds is thus not seen as restarted.) An endpoint that leaves the
// resolver's set is forgotten: if it comes back, it starts over.
//
// The package has no clock: callers pass the time in, and tests use
// synthetic times.
package slowstart

import (
	"math"
	"time"

	"github.com/grpclb/grpclb/internal/jsonconf"
)

// Defaults and bounds of the fields. Values beyond the bounds are surely
// mistakes (a unit typed wrong) and would only hide a backend for hours or
// make the ramp a step.
const (
	// DefaultAggression is the default shape of the ramp: linear.
	DefaultAggression = 1.0
	// DefaultMinWeightPercent is the default share, in percent of its
	// weight, that an endpoint starts its ramp with.
	DefaultMinWeightPercent = 10.0
	// MaxWindow bounds Window.
	MaxWindow = time.Hour
	// MaxAggression bounds Aggression.
	MaxAggression = 10.0
)

// Config configures slow start. Its JSON form, a policy's slowStart field
// read by jsonconf.Decode, is
//
//	{"window": "10s", "aggression": 1.0, "minWeightPercent": 10}
//
// where every field is optional: missing fields and null values keep the
// defaults. The window is a string in Go's time.ParseDuration form
// ("250ms", "1m30s"), which covers protobuf's JSON form of
// google.protobuf.Duration ("10s", "0.5s"). The zero Config is off, and a
// zero Aggression or MinWeightPercent stands for its default. Errors name
// the field: `field "slowStart.window": must not be negative, got "-1s"`.
type Config struct {
	// Window is how long a ramp lasts; 0 turns slow start off. In
	// [0, MaxWindow]; default 0.
	Window time.Duration `json:"window" range:"[0,1h]"`
	// Aggression shapes the ramp: 1 is linear, above 1 the share rises
	// fast at first and slowly near the end, below 1 the other way round.
	// In (0, MaxAggression]; default DefaultAggression.
	Aggression float64 `json:"aggression" range:"(0,10]"`
	// MinWeightPercent is the share, in percent of its weight, that an
	// endpoint starts its ramp with; 100 is no ramp. In (0, 100]; default
	// DefaultMinWeightPercent.
	MinWeightPercent float64 `json:"minWeightPercent" range:"(0,100]"`
}

// Default returns the Config with every field at its default: off.
func Default() Config {
	return Config{Aggression: DefaultAggression, MinWeightPercent: DefaultMinWeightPercent}
}

// withDefaults returns c with a zero Aggression or MinWeightPercent at its
// default.
func (c Config) withDefaults() Config {
	if c.Aggression <= 0 {
		c.Aggression = DefaultAggression
	}
	if c.MinWeightPercent <= 0 {
		c.MinWeightPercent = DefaultMinWeightPercent
	}
	return c
}

// Enabled reports whether endpoints ramp up at all: not with a zero window,
// nor with a 100% floor.
func (c Config) Enabled() bool {
	return c.Window > 0 && c.withDefaults().MinWeightPercent < 100
}

// Factor is the multiplier, in (0, 1], of the weight of an endpoint whose
// ramp started elapsed ago:
// max(MinWeightPercent/100, (elapsed/Window)^(1/Aggression)), and 1 once
// elapsed reaches Window or when slow start is off.
func (c Config) Factor(elapsed time.Duration) float64 {
	if !c.Enabled() || elapsed >= c.Window {
		return 1
	}
	c = c.withDefaults()
	f := float64(max(elapsed, 0)) / float64(c.Window)
	if c.Aggression != 1 {
		f = math.Pow(f, 1/c.Aggression)
	}
	return max(f, c.MinWeightPercent/100)
}

// MarshalJSON returns the config in its JSON form, every field given (a
// zero Aggression or MinWeightPercent as its default).
func (c Config) MarshalJSON() ([]byte, error) { return jsonconf.Marshal(c.withDefaults()) }
