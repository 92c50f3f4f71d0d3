package outlier

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/grpclb/grpclb/internal/jsonconf"

	"google.golang.org/grpc/balancer/roundrobin"
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
	Interval time.Duration
	// BaseEjectionTime is how long an endpoint is ejected the first time;
	// its n-th ejection in a row lasts n times as long, up to
	// max(BaseEjectionTime, MaxEjectionTime). Both in (0, 1h].
	BaseEjectionTime time.Duration
	MaxEjectionTime  time.Duration
	// MaxEjectionPercent bounds the endpoints ejected at once, in [0, 100];
	// see the package documentation.
	MaxEjectionPercent int

	// The detectors; nil ones are off. ParseConfig turns ConsecutiveFailures
	// on when the JSON names none of them.
	ConsecutiveFailures *ConsecutiveFailures
	SuccessRate         *SuccessRate
	FailurePercentage   *FailurePercentage

	// FailureCodes are the status codes that count as failures; every
	// other code but CANCELLED counts as a success. Sorted, no duplicates.
	FailureCodes []codes.Code

	// ChildPolicy is the policy that balances over the endpoints that are
	// not ejected.
	ChildPolicy ChildPolicy
}

// ConsecutiveFailures ejects an endpoint as soon as Threshold calls in a
// row to it have failed.
type ConsecutiveFailures struct {
	Threshold int // in [1, 1000000]
}

// SuccessRate ejects, at each interval, the endpoints whose success rate
// is below mean - stdev × StdevFactor/1000 of the success rates of the
// endpoints that had at least RequestVolume calls, when there are at least
// MinimumHosts of those.
type SuccessRate struct {
	StdevFactor           int // in [0, 1000000]; 1900 means 1.9
	EnforcementPercentage int // in [0, 100]
	MinimumHosts          int // in [0, 1000000]
	RequestVolume         int // in [1, 1000000]
}

// FailurePercentage ejects, at each interval, the endpoints whose
// percentage of failed calls is above Threshold, among the endpoints that
// had at least RequestVolume calls, when there are at least MinimumHosts of
// those.
type FailurePercentage struct {
	Threshold             int // in [0, 100]
	EnforcementPercentage int // in [0, 100]
	MinimumHosts          int // in [0, 1000000]
	RequestVolume         int // in [1, 1000000]
}

// ChildPolicy is the chosen child policy: the first registered one of the
// childPolicy list.
type ChildPolicy struct {
	Name   string
	Config serviceconfig.LoadBalancingConfig // as parsed by the child; may be nil
	JSON   json.RawMessage                   // the child's config, compacted
}

func defaultConfig() *Config {
	return &Config{
		Interval:           DefaultInterval,
		BaseEjectionTime:   DefaultBaseEjectionTime,
		MaxEjectionTime:    DefaultMaxEjectionTime,
		MaxEjectionPercent: DefaultMaxEjectionPercent,
		FailureCodes:       sortedCodes(DefaultFailureCodes),
		ChildPolicy:        ChildPolicy{Name: roundrobin.Name, JSON: json.RawMessage("{}")},
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
	fields, err := objectFields(js, "config")
	if err != nil {
		return nil, err
	}
	detectors := false
	for _, f := range fields {
		if null(f) {
			continue
		}
		var err error
		switch f.Key {
		case "interval":
			err = parseDuration(f.Value, &cfg.Interval)
		case "baseEjectionTime":
			err = parseDuration(f.Value, &cfg.BaseEjectionTime)
		case "maxEjectionTime":
			err = parseDuration(f.Value, &cfg.MaxEjectionTime)
		case "maxEjectionPercent":
			err = parseInt(f.Value, &cfg.MaxEjectionPercent, 0, 100)
		case "consecutiveFailures":
			detectors = true
			cfg.ConsecutiveFailures, err = parseConsecutiveFailures(f.Value)
		case "successRate":
			detectors = true
			cfg.SuccessRate, err = parseSuccessRate(f.Value)
		case "failurePercentage":
			detectors = true
			cfg.FailurePercentage, err = parseFailurePercentage(f.Value)
		case "failureStatusCodes":
			cfg.FailureCodes, err = parseCodes(f.Value)
		case "childPolicy":
			cfg.ChildPolicy, err = parseChildPolicy(f.Value)
		default:
			return nil, fmt.Errorf("%s: unknown field %q (known fields: %s)", Name, f.Key, knownFields(
				"interval", "baseEjectionTime", "maxEjectionTime", "maxEjectionPercent", "consecutiveFailures",
				"successRate", "failurePercentage", "failureStatusCodes", "childPolicy"))
		}
		if err != nil {
			return nil, fmt.Errorf("%s: field %q: %w", Name, f.Key, err)
		}
	}
	if !detectors {
		cfg.ConsecutiveFailures = &ConsecutiveFailures{Threshold: DefaultConsecutiveFailures}
	}
	return cfg, nil
}

func parseConsecutiveFailures(val json.RawMessage) (*ConsecutiveFailures, error) {
	c := &ConsecutiveFailures{Threshold: DefaultConsecutiveFailures}
	return c, parseDetector(val, map[string]intField{
		"threshold": {&c.Threshold, 1, maxCount},
	})
}

func parseSuccessRate(val json.RawMessage) (*SuccessRate, error) {
	s := &SuccessRate{
		StdevFactor:           DefaultStdevFactor,
		EnforcementPercentage: DefaultEnforcementPercentage,
		MinimumHosts:          DefaultSuccessRateMinimumHosts,
		RequestVolume:         DefaultSuccessRateRequestVolume,
	}
	return s, parseDetector(val, map[string]intField{
		"stdevFactor":           {&s.StdevFactor, 0, maxCount},
		"enforcementPercentage": {&s.EnforcementPercentage, 0, 100},
		"minimumHosts":          {&s.MinimumHosts, 0, maxCount},
		"requestVolume":         {&s.RequestVolume, 1, maxCount},
	})
}

func parseFailurePercentage(val json.RawMessage) (*FailurePercentage, error) {
	f := &FailurePercentage{
		Threshold:             DefaultFailurePercentageThreshold,
		EnforcementPercentage: DefaultEnforcementPercentage,
		MinimumHosts:          DefaultFailurePercentageMinimumHosts,
		RequestVolume:         DefaultFailurePercentageRequestVolume,
	}
	return f, parseDetector(val, map[string]intField{
		"threshold":             {&f.Threshold, 0, 100},
		"enforcementPercentage": {&f.EnforcementPercentage, 0, 100},
		"minimumHosts":          {&f.MinimumHosts, 0, maxCount},
		"requestVolume":         {&f.RequestVolume, 1, maxCount},
	})
}

// intField is an integer field of a detector and its range.
type intField struct {
	dst      *int
	min, max int
}

// parseDetector parses a detector's object, whose fields are all integers.
func parseDetector(val json.RawMessage, known map[string]intField) error {
	fields, err := objectFields(val, "value")
	if err != nil {
		return err
	}
	for _, f := range fields {
		k, ok := known[f.Key]
		if !ok {
			names := make([]string, 0, len(known))
			for n := range known {
				names = append(names, n)
			}
			slices.Sort(names)
			return fmt.Errorf("unknown field %q (known fields: %s)", f.Key, knownFields(names...))
		}
		if null(f) {
			continue
		}
		if err := parseInt(f.Value, k.dst, k.min, k.max); err != nil {
			return fmt.Errorf("field %q: %w", f.Key, err)
		}
	}
	return nil
}

// null reports whether a member's value is JSON null.
func null(f jsonconf.Field) bool { return string(f.Value) == "null" }

// objectFields reads a JSON object's members in order (see
// jsonconf.Fields); what is "config" for the policy's own config, whose
// errors name the policy, or "value" for a field's.
func objectFields(js json.RawMessage, what string) ([]jsonconf.Field, error) {
	if what != "config" {
		return jsonconf.Fields(js, "")
	}
	fields, err := jsonconf.Fields(js, "config")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", Name, err)
	}
	return fields, nil
}

// parseDuration parses a duration string in (0, maxDuration] into dst.
func parseDuration(val json.RawMessage, dst *time.Duration) error {
	var s string
	if err := json.Unmarshal(val, &s); err != nil {
		return fmt.Errorf("must be a duration string such as \"10s\" or \"250ms\", got %s", jsonconf.Truncate(string(val)))
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("invalid duration %s: want a duration such as \"10s\" or \"250ms\"", jsonconf.Truncate(strconv.Quote(s)))
	}
	switch {
	case d <= 0:
		return fmt.Errorf("must be positive, got %s", jsonconf.Truncate(strconv.Quote(s)))
	case d > maxDuration:
		return fmt.Errorf("must be at most %v, got %s", maxDuration, jsonconf.Truncate(strconv.Quote(s)))
	}
	*dst = d
	return nil
}

// parseInt parses a JSON integer in [lo, hi] into dst. Fractions,
// exponents and strings are rejected.
func parseInt(val json.RawMessage, dst *int, lo, hi int) error {
	n, err := strconv.ParseInt(string(val), 10, 64)
	if err != nil || n < int64(lo) || n > int64(hi) {
		return fmt.Errorf("must be an integer from %d to %d, got %s", lo, hi, jsonconf.Truncate(string(val)))
	}
	*dst = int(n)
	return nil
}

// codeNames are the status codes' names in service configs.
var codeNames = []string{
	codes.OK: "OK", codes.Canceled: "CANCELLED", codes.Unknown: "UNKNOWN",
	codes.InvalidArgument: "INVALID_ARGUMENT", codes.DeadlineExceeded: "DEADLINE_EXCEEDED",
	codes.NotFound: "NOT_FOUND", codes.AlreadyExists: "ALREADY_EXISTS",
	codes.PermissionDenied: "PERMISSION_DENIED", codes.ResourceExhausted: "RESOURCE_EXHAUSTED",
	codes.FailedPrecondition: "FAILED_PRECONDITION", codes.Aborted: "ABORTED",
	codes.OutOfRange: "OUT_OF_RANGE", codes.Unimplemented: "UNIMPLEMENTED",
	codes.Internal: "INTERNAL", codes.Unavailable: "UNAVAILABLE", codes.DataLoss: "DATA_LOSS",
	codes.Unauthenticated: "UNAUTHENTICATED",
}

// codeName returns the service-config name of c.
func codeName(c codes.Code) string {
	if int(c) < len(codeNames) {
		return codeNames[c]
	}
	return c.String()
}

// parseCodes parses a non-empty list of status code names.
func parseCodes(val json.RawMessage) ([]codes.Code, error) {
	var names []string
	if err := json.Unmarshal(val, &names); err != nil {
		return nil, fmt.Errorf("must be a list of status code names such as [\"UNAVAILABLE\"], got %s", jsonconf.Truncate(string(val)))
	}
	if len(names) == 0 {
		return nil, errors.New("must not be empty: with no failure codes nothing would ever be ejected")
	}
	var out []codes.Code
	for _, n := range names {
		c := slices.Index(codeNames, n)
		switch {
		case c < 0:
			return nil, fmt.Errorf("unknown status code %s (want names such as \"UNAVAILABLE\" or \"DEADLINE_EXCEEDED\")", jsonconf.Truncate(strconv.Quote(n)))
		case codes.Code(c) == codes.OK:
			return nil, errors.New("\"OK\" cannot be a failure")
		case codes.Code(c) == codes.Canceled:
			return nil, errors.New("\"CANCELLED\" cannot be a failure: a call cancelled by its caller says nothing about the backend")
		case slices.Contains(out, codes.Code(c)):
			return nil, fmt.Errorf("status code %q given twice", n)
		}
		out = append(out, codes.Code(c))
	}
	return sortedCodes(out), nil
}

func sortedCodes(cs []codes.Code) []codes.Code {
	out := slices.Clone(cs)
	slices.Sort(out)
	return out
}

// parseChildPolicy picks the first registered policy of a list of
// {"name": config} objects and parses its config.
func parseChildPolicy(val json.RawMessage) (ChildPolicy, error) {
	name, js, cfg, err := jsonconf.ChildPolicy(val, "")
	if err != nil {
		return ChildPolicy{}, err
	}
	return ChildPolicy{Name: name, JSON: js, Config: cfg}, nil
}

// MarshalJSON returns the config in the JSON form ParseConfig reads, every
// field given, so that the effective config can be logged or compared.
func (c *Config) MarshalJSON() ([]byte, error) {
	type detector map[string]int
	out := struct {
		Interval            string            `json:"interval"`
		BaseEjectionTime    string            `json:"baseEjectionTime"`
		MaxEjectionTime     string            `json:"maxEjectionTime"`
		MaxEjectionPercent  int               `json:"maxEjectionPercent"`
		ConsecutiveFailures detector          `json:"consecutiveFailures,omitempty"`
		SuccessRate         detector          `json:"successRate,omitempty"`
		FailurePercentage   detector          `json:"failurePercentage,omitempty"`
		FailureStatusCodes  []string          `json:"failureStatusCodes"`
		ChildPolicy         []json.RawMessage `json:"childPolicy"`
	}{
		Interval:           c.Interval.String(),
		BaseEjectionTime:   c.BaseEjectionTime.String(),
		MaxEjectionTime:    c.MaxEjectionTime.String(),
		MaxEjectionPercent: c.MaxEjectionPercent,
	}
	if d := c.ConsecutiveFailures; d != nil {
		out.ConsecutiveFailures = detector{"threshold": d.Threshold}
	}
	if d := c.SuccessRate; d != nil {
		out.SuccessRate = detector{"stdevFactor": d.StdevFactor, "enforcementPercentage": d.EnforcementPercentage,
			"minimumHosts": d.MinimumHosts, "requestVolume": d.RequestVolume}
	}
	if d := c.FailurePercentage; d != nil {
		out.FailurePercentage = detector{"threshold": d.Threshold, "enforcementPercentage": d.EnforcementPercentage,
			"minimumHosts": d.MinimumHosts, "requestVolume": d.RequestVolume}
	}
	for _, code := range c.FailureCodes {
		out.FailureStatusCodes = append(out.FailureStatusCodes, codeName(code))
	}
	child := c.ChildPolicy.JSON
	if len(child) == 0 {
		child = json.RawMessage("{}")
	}
	item, err := json.Marshal(map[string]json.RawMessage{c.ChildPolicy.Name: child})
	if err != nil {
		return nil, err
	}
	out.ChildPolicy = []json.RawMessage{item}
	return json.Marshal(out)
}

func knownFields(names ...string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = strconv.Quote(n)
	}
	return strings.Join(q, ", ")
}
