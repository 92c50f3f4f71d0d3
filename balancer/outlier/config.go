package outlier

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/grpclb/grpclb/internal/jsonconf"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/serviceconfig"
)

// Defaults of the configuration fields (gRFC A50's, except where noted).
const (
	DefaultInterval           = 10 * time.Second
	DefaultBaseEjectionTime   = 30 * time.Second
	DefaultMaxEjectionTime    = 300 * time.Second
	DefaultMaxEjectionPercent = 10

	// DefaultConsecutiveFailures is consecutiveFailures.threshold's default
	// (Envoy's consecutive_5xx).
	DefaultConsecutiveFailures = 5

	DefaultStdevFactor              = 1900
	DefaultSuccessRateMinimumHosts  = 5
	DefaultSuccessRateRequestVolume = 100

	DefaultFailurePercentageThreshold     = 85
	DefaultFailurePercentageMinimumHosts  = 5
	DefaultFailurePercentageRequestVolume = 50

	// DefaultEnforcementPercentage is the default enforcementPercentage of
	// both successRate and failurePercentage. (A50 and Envoy default
	// failure-percentage enforcement to 0, because Envoy runs that detector
	// for every cluster; here writing the object is what turns it on, so it
	// enforces unless told otherwise.)
	DefaultEnforcementPercentage = 100
)

// Limits of the configuration fields: larger values are surely mistakes.
const (
	maxDuration = time.Hour
	maxCount    = 1_000_000 // thresholds, volumes, host counts, stdevFactor
)

// DefaultFailureCodes are the status codes that count as failures of the
// backend unless failureStatusCodes says otherwise: those of a backend
// that is down, overloaded, hanging or broken. Codes such as NOT_FOUND or
// INVALID_ARGUMENT are answers of a working backend; CANCELLED never
// counts.
var DefaultFailureCodes = []codes.Code{
	codes.Unavailable, codes.DeadlineExceeded, codes.Internal, codes.Unknown, codes.ResourceExhausted,
}

// Config is the parsed configuration of the outlier_ejection policy. See
// ParseConfig for its JSON form and the package documentation for what
// each field does.
type Config struct {
	serviceconfig.LoadBalancingConfig `json:"-"`

	// Interval between runs of the successRate and failurePercentage
	// detectors and of the decay of ejection multipliers. In (0, 1h].
	Interval time.Duration `json:"interval" range:"(0,1h]"`
	// BaseEjectionTime is how long an endpoint is ejected the first time;
	// its n-th ejection in a row lasts n times as long, up to
	// max(BaseEjectionTime, MaxEjectionTime). Both in (0, 1h].
	BaseEjectionTime time.Duration `json:"baseEjectionTime" range:"(0,1h]"`
	MaxEjectionTime  time.Duration `json:"maxEjectionTime" range:"(0,1h]"`
	// MaxEjectionPercent bounds the endpoints ejected at once, in [0, 100];
	// see the package documentation.
	MaxEjectionPercent int `json:"maxEjectionPercent" range:"[0,100]"`

	// The detectors; nil ones are off. ParseConfig turns ConsecutiveFailures
	// on when the JSON names none of them.
	ConsecutiveFailures *ConsecutiveFailures `json:"consecutiveFailures,omitempty"`
	SuccessRate         *SuccessRate         `json:"successRate,omitempty"`
	FailurePercentage   *FailurePercentage   `json:"failurePercentage,omitempty"`

	// FailureCodes are the status codes that count as failures; every
	// other code but CANCELLED counts as a success. Sorted, no duplicates.
	FailureCodes []codes.Code `json:"failureStatusCodes"`

	// ChildPolicy is the policy that balances over the endpoints that are
	// not ejected.
	ChildPolicy ChildPolicy `json:"childPolicy"`
}

// ConsecutiveFailures ejects an endpoint as soon as Threshold calls in a
// row to it have failed.
type ConsecutiveFailures struct {
	Threshold int `json:"threshold" range:"[1,1000000]"`
}

// SetDefaults sets the defaults of the fields a config may omit.
func (c *ConsecutiveFailures) SetDefaults() { c.Threshold = DefaultConsecutiveFailures }

// SuccessRate ejects, at each interval, the endpoints whose success rate
// is below mean - stdev × StdevFactor/1000 of the success rates of the
// endpoints that had at least RequestVolume calls, when there are at least
// MinimumHosts of those.
type SuccessRate struct {
	StdevFactor           int `json:"stdevFactor" range:"[0,1000000]"` // 1900 means 1.9
	EnforcementPercentage int `json:"enforcementPercentage" range:"[0,100]"`
	MinimumHosts          int `json:"minimumHosts" range:"[0,1000000]"`
	RequestVolume         int `json:"requestVolume" range:"[1,1000000]"`
}

// SetDefaults sets the defaults of the fields a config may omit.
func (s *SuccessRate) SetDefaults() {
	*s = SuccessRate{DefaultStdevFactor, DefaultEnforcementPercentage, DefaultSuccessRateMinimumHosts, DefaultSuccessRateRequestVolume}
}

// FailurePercentage ejects, at each interval, the endpoints whose
// percentage of failed calls is above Threshold, among the endpoints that
// had at least RequestVolume calls, when there are at least MinimumHosts of
// those.
type FailurePercentage struct {
	Threshold             int `json:"threshold" range:"[0,100]"`
	EnforcementPercentage int `json:"enforcementPercentage" range:"[0,100]"`
	MinimumHosts          int `json:"minimumHosts" range:"[0,1000000]"`
	RequestVolume         int `json:"requestVolume" range:"[1,1000000]"`
}

// SetDefaults sets the defaults of the fields a config may omit.
func (f *FailurePercentage) SetDefaults() {
	*f = FailurePercentage{DefaultFailurePercentageThreshold, DefaultEnforcementPercentage, DefaultFailurePercentageMinimumHosts, DefaultFailurePercentageRequestVolume}
}

// ChildPolicy is the chosen child policy: the first registered one of the
// childPolicy list.
type ChildPolicy = jsonconf.Child

func defaultConfig() *Config {
	return &Config{
		Interval:           DefaultInterval,
		BaseEjectionTime:   DefaultBaseEjectionTime,
		MaxEjectionTime:    DefaultMaxEjectionTime,
		MaxEjectionPercent: DefaultMaxEjectionPercent,
		FailureCodes:       sortedCodes(DefaultFailureCodes),
		ChildPolicy:        jsonconf.RoundRobin(""),
	}
}

// ParseConfig parses the JSON configuration of the outlier_ejection
// policy, the value of its key in a service config's loadBalancingConfig,
// for example
//
//	{
//	  "interval": "10s",
//	  "baseEjectionTime": "30s",
//	  "maxEjectionTime": "300s",
//	  "maxEjectionPercent": 10,
//	  "consecutiveFailures": {"threshold": 5},
//	  "successRate": {"stdevFactor": 1900, "enforcementPercentage": 100,
//	                  "minimumHosts": 5, "requestVolume": 100},
//	  "failurePercentage": {"threshold": 85, "enforcementPercentage": 100,
//	                        "minimumHosts": 5, "requestVolume": 50},
//	  "failureStatusCodes": ["UNAVAILABLE", "DEADLINE_EXCEEDED", "INTERNAL",
//	                         "UNKNOWN", "RESOURCE_EXHAUSTED"],
//	  "childPolicy": [{"round_robin": {}}]
//	}
//
// Every field is optional; missing fields and null values take the
// defaults. A detector (consecutiveFailures, successRate,
// failurePercentage) is on when its object is given, with defaults for its
// missing fields; when none is given, consecutiveFailures is on with
// threshold 5. Durations are strings in Go's time.ParseDuration form, which
// covers protobuf's JSON form ("10s", "0.5s"). childPolicy is a list of
// {"name": config} objects, as in loadBalancingConfig; the first
// registered policy is used and parses its own config. It defaults to
// round_robin.
//
// Unknown or repeated fields, values of the wrong type or out of range,
// unknown status codes and child policies that are not registered are
// rejected with an error that names the field.
func ParseConfig(js json.RawMessage) (*Config, error) {
	cfg := defaultConfig()
	cfg.FailureCodes = nil // nil: not given
	if err := jsonconf.Decode(js, cfg); err != nil {
		return nil, fmt.Errorf("%s: %w", Name, err)
	}
	if cfg.ConsecutiveFailures == nil && cfg.SuccessRate == nil && cfg.FailurePercentage == nil {
		cfg.ConsecutiveFailures = &ConsecutiveFailures{Threshold: DefaultConsecutiveFailures}
	}
	if cfg.FailureCodes == nil {
		cfg.FailureCodes = sortedCodes(DefaultFailureCodes)
	} else if err := checkFailureCodes(cfg); err != nil {
		return nil, fmt.Errorf("%s: %w", Name, &jsonconf.FieldError{Path: "failureStatusCodes", Err: err})
	}
	return cfg, nil
}

// checkFailureCodes checks cfg's failureStatusCodes list and sorts it.
func checkFailureCodes(cfg *Config) error {
	if len(cfg.FailureCodes) == 0 {
		return errors.New("must not be empty: with no failure codes nothing would ever be ejected")
	}
	var out []codes.Code
	for _, c := range cfg.FailureCodes {
		switch {
		case c == codes.OK:
			return errors.New("\"OK\" cannot be a failure")
		case c == codes.Canceled:
			return errors.New("\"CANCELLED\" cannot be a failure: a call cancelled by its caller says nothing about the backend")
		case slices.Contains(out, c):
			return fmt.Errorf("status code %q given twice", jsonconf.CodeName(c))
		}
		out = append(out, c)
	}
	cfg.FailureCodes = sortedCodes(out)
	return nil
}

func sortedCodes(cs []codes.Code) []codes.Code {
	out := slices.Clone(cs)
	slices.Sort(out)
	return out
}

// MarshalJSON returns the config in the JSON form ParseConfig reads, every
// field given, so that the effective config can be logged or compared.
func (c *Config) MarshalJSON() ([]byte, error) { return jsonconf.Marshal(c) }
