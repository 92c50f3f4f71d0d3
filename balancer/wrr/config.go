package wrr

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/grpclb/grpclb/internal/jsonconf"

	"google.golang.org/grpc/serviceconfig"
)

// Defaults of the slowStart fields (the same as Envoy's and p2c_ewma's).
const (
	// DefaultAggression is the default shape of the ramp: linear.
	DefaultAggression = 1.0
	// DefaultMinWeightPercent is the default share, in percent of its
	// weight, that an endpoint starts its ramp with.
	DefaultMinWeightPercent = 10.0
)

// Bounds of the slowStart fields. Values beyond them are surely mistakes (a
// unit typed wrong) and would only hide a backend for hours or make the ramp
// a step.
const (
	maxWindow     = time.Hour
	maxAggression = 10.0
)

// Config is the parsed configuration of the wrr policy. Its JSON form, in a
// service config's loadBalancingConfig, is
//
//	{"slowStart": {"window": "10s", "aggression": 1.0, "minWeightPercent": 10}}
//
// where every field is optional; without slowStart (or with a zero window)
// there is no ramp. See the package documentation for what each field does.
type Config struct {
	serviceconfig.LoadBalancingConfig `json:"-"`

	// SlowStart ramps up the share of an endpoint that has just become
	// READY. Off when its Window is 0 (the default).
	SlowStart SlowStart
}

// SlowStart configures slow start, as Envoy's: for Window after an endpoint
// becomes READY, its weight is multiplied by
//
//	max(MinWeightPercent/100, (time since READY / Window)^(1/Aggression))
//
// Its JSON form is
//
//	{"window": "10s", "aggression": 1.0, "minWeightPercent": 10}
//
// which is also the form p2c_ewma's slowStart takes.
type SlowStart struct {
	// Window is how long the ramp lasts; 0 turns slow start off. In
	// [0, 1h]; default 0.
	Window time.Duration
	// Aggression shapes the ramp: 1 is linear, above 1 rises faster at
	// first, below 1 slower. In (0, 10]; default DefaultAggression.
	Aggression float64
	// MinWeightPercent is the fraction of its weight, in percent, that an
	// endpoint starts its ramp with. In (0, 100]; default
	// DefaultMinWeightPercent.
	MinWeightPercent float64
}

// enabled reports whether endpoints ramp up at all: a 100% floor is no ramp.
func (s *SlowStart) enabled() bool { return s.Window > 0 && s.MinWeightPercent < 100 }

// factor is the multiplier, in (0, 1], of the weight of an endpoint READY
// for age: 1 once age reaches Window or when slow start is off.
func (s *SlowStart) factor(age time.Duration) float64 {
	if !s.enabled() || age >= s.Window {
		return 1
	}
	f := float64(max(age, 0)) / float64(s.Window)
	if s.Aggression != 1 {
		f = math.Pow(f, 1/s.Aggression)
	}
	return max(f, s.MinWeightPercent/100)
}

// defaultConfig returns a Config with every field at its default: no ramp.
func defaultConfig() *Config {
	return &Config{SlowStart: defaultSlowStart()}
}

func defaultSlowStart() SlowStart {
	return SlowStart{Aggression: DefaultAggression, MinWeightPercent: DefaultMinWeightPercent}
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
	if len(bytes.TrimSpace(js)) == 0 {
		return cfg, nil
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("wrr: config is not valid JSON: %v", err)
	}
	switch tok {
	case nil: // null
	case json.Delim('{'):
		err := parseObject(dec, "", []string{"slowStart"}, func(_ string, val json.RawMessage) error {
			return parseSlowStart(val, &cfg.SlowStart) // the only known field
		})
		if err != nil {
			return nil, fmt.Errorf("wrr: %w", err)
		}
	default:
		return nil, fmt.Errorf("wrr: config must be a JSON object, got %s", jsonconf.DescribeToken(tok))
	}
	if _, err := dec.Token(); err != io.EOF {
		if err != nil {
			return nil, fmt.Errorf("wrr: config is not valid JSON: %v", err)
		}
		return nil, errors.New("wrr: unexpected data after the config object")
	}
	return cfg, nil
}

// parseSlowStart parses the slowStart object into ss; null leaves slow start
// off.
func parseSlowStart(val json.RawMessage, ss *SlowStart) error {
	if string(val) == "null" {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(val))
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("not valid JSON: %v", err) // cannot happen: val was decoded
	}
	if tok != json.Delim('{') {
		return fmt.Errorf("must be an object such as {\"window\": \"10s\"}, got %s", jsonconf.DescribeToken(tok))
	}
	out := defaultSlowStart()
	err = parseObject(dec, "slowStart.", []string{"window", "aggression", "minWeightPercent"}, func(key string, val json.RawMessage) error {
		switch key {
		case "window":
			return parseDuration(val, &out.Window)
		case "aggression":
			return parseNumber(val, &out.Aggression, maxAggression)
		default: // "minWeightPercent"
			return parseNumber(val, &out.MinWeightPercent, 100)
		}
	})
	if err != nil {
		return err
	}
	*ss = out
	return nil
}

// parseObject reads the members of an object whose '{' was read, up to and
// including its '}', and calls field for each. Unknown and repeated fields
// are errors; every error names the field, as prefix+key.
func parseObject(dec *json.Decoder, prefix string, known []string, field func(key string, val json.RawMessage) error) error {
	seen := make(map[string]bool)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("config is not valid JSON: %v", err)
		}
		key, _ := tok.(string) // object keys are always strings
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			return fmt.Errorf("config is not valid JSON: %v", err)
		}
		if seen[key] {
			return fmt.Errorf("field %q given twice", prefix+key)
		}
		seen[key] = true
		if !slices.Contains(known, key) {
			var names []string
			for _, k := range known {
				names = append(names, strconv.Quote(k))
			}
			where := ""
			if prefix != "" {
				where = " of " + strings.TrimSuffix(prefix, ".")
			}
			return fmt.Errorf("unknown field %q (known fields%s: %s)", prefix+key, where, strings.Join(names, ", "))
		}
		if err := field(key, val); err != nil {
			if fe := (*fieldError)(nil); errors.As(err, &fe) {
				return err // names an inner field already
			}
			return &fieldError{path: prefix + key, err: err}
		}
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return fmt.Errorf("config is not valid JSON: %v", err)
	}
	return nil
}

// fieldError is an error in the value of one field.
type fieldError struct {
	path string // "slowStart.window"
	err  error
}

func (e *fieldError) Error() string { return fmt.Sprintf("field %q: %v", e.path, e.err) }
func (e *fieldError) Unwrap() error { return e.err }

// parseDuration parses a window into dst; null leaves dst as it is. It must
// be in [0, maxWindow].
func parseDuration(val json.RawMessage, dst *time.Duration) error {
	if string(val) == "null" {
		return nil
	}
	var s string
	if err := json.Unmarshal(val, &s); err != nil {
		return fmt.Errorf("must be a duration string such as \"10s\" or \"250ms\", got %s", jsonconf.Truncate(string(val)))
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("invalid duration %s: want a duration such as \"10s\" or \"250ms\"", jsonconf.Truncate(strconv.Quote(s)))
	}
	switch {
	case d < 0:
		return fmt.Errorf("must not be negative, got %q", s)
	case d > maxWindow:
		return fmt.Errorf("must be at most %v, got %q", maxWindow, s)
	}
	*dst = d
	return nil
}

// parseNumber parses a JSON number in (0, limit] into dst; null leaves dst
// as it is.
func parseNumber(val json.RawMessage, dst *float64, limit float64) error {
	if string(val) == "null" {
		return nil
	}
	var f float64
	if err := json.Unmarshal(val, &f); err != nil {
		return fmt.Errorf("must be a number in (0, %v], got %s", limit, jsonconf.Truncate(string(val)))
	}
	if !(f > 0 && f <= limit) {
		return fmt.Errorf("must be in (0, %v], got %v", limit, f)
	}
	*dst = f
	return nil
}
