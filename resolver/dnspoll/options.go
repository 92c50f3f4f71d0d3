package dnspoll

import (
	"cmp"
	"fmt"
	"log/slog"
	"time"

	"github.com/grpclb/grpclb/internal/targetopt"
)

// Options configure a dnspoll resolver. The zero value of a field takes its
// default.
type Options struct {
	// Interval between lookups. Default 10s.
	Interval time.Duration
	// Jitter spreads each wait uniformly over Interval × [1-Jitter, 1+Jitter],
	// so the longest wait is Interval × (1+Jitter). Default 0.2; between 0 and 1.
	// Set NoJitter to turn it off.
	Jitter   float64
	NoJitter bool
	// MinInterval is the floor between two lookups, however often ResolveNow
	// is called and whatever Interval says. Default 1s, at least 10ms.
	MinInterval time.Duration
	// Timeout bounds one lookup. Default 5s.
	Timeout time.Duration
	// SRV looks the name up as an SRV name and uses each record's target and
	// port. Default false: A and AAAA records with the target's port.
	SRV bool
	// PublishEmpty publishes an empty endpoint set when the name has no
	// records or does not exist. Default false: such answers are logged and
	// the last good set is kept, because an empty answer is far more often a
	// DNS fault than a service scaled to zero. Before any set was
	// published, such an answer is reported to the channel as an error
	// either way, so callers see why their calls fail.
	PublishEmpty bool
	// Logger receives one line per change of the endpoint set and per
	// failed lookup. Default slog.Default().
	Logger *slog.Logger
}

// Defaults for Options.
const (
	DefaultInterval    = 10 * time.Second
	DefaultJitter      = 0.2
	DefaultMinInterval = time.Second
	DefaultTimeout     = 5 * time.Second
	floorMinInterval   = 10 * time.Millisecond
)

// withDefaults fills zero fields and checks the rest.
func (o Options) withDefaults() (Options, error) {
	if o.Jitter == 0 && !o.NoJitter {
		o.Jitter = DefaultJitter
	}
	if o.NoJitter {
		o.Jitter = 0
	}
	o.Logger = cmp.Or(o.Logger, slog.Default())
	interval := targetopt.DefaultDuration("interval", &o.Interval, DefaultInterval, 0, 0)
	minInterval := targetopt.DefaultDuration("min_interval", &o.MinInterval, DefaultMinInterval, floorMinInterval, 0)
	timeout := targetopt.DefaultDuration("timeout", &o.Timeout, DefaultTimeout, 0, 0)
	switch {
	case interval != nil:
		return o, interval
	case !(o.Jitter >= 0 && o.Jitter <= 1): // NaN fails both
		return o, fmt.Errorf("jitter %v is not between 0 and 1", o.Jitter)
	case minInterval != nil:
		return o, minInterval
	case o.Interval < o.MinInterval:
		return o, fmt.Errorf("interval %v is below min_interval %v", o.Interval, o.MinInterval)
	case timeout != nil:
		return o, timeout
	}
	return o, nil
}
