package hedge

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/grpclb/grpclb/internal/jsonconf"

	"google.golang.org/grpc/codes"
)

// Config is a Hedger's configuration as data, for configuration files and
// command lines; ParseConfig reads it from JSON and Options turns it into
// options for New.
type Config struct {
	// Methods are the idempotent methods (see the Methods option).
	Methods []string
	// HedgingDelay is the fixed delay, or with AdaptiveDelay the delay
	// until a method's quantile is known (see Delay).
	HedgingDelay time.Duration
	// AdaptiveDelay is the quantile of the adaptive delay (see
	// AdaptiveDelay), or 0 for a fixed delay.
	AdaptiveDelay float64
	// MaxAttempts is the number of attempts, the first included.
	MaxAttempts int
	// Budget is the ratio of extra attempts to calls.
	Budget float64
	// BudgetBurst is the size of the budget's bucket.
	BudgetBurst int
	// NonFatalStatusCodes let the other attempts go on (see
	// NonFatalCodes); empty makes every code fatal.
	NonFatalStatusCodes []codes.Code
}

// DefaultConfig returns the configuration of New with no option.
func DefaultConfig() *Config {
	return &Config{
		HedgingDelay:        DefaultDelay,
		AdaptiveDelay:       DefaultQuantile,
		MaxAttempts:         DefaultMaxAttempts,
		Budget:              DefaultBudget,
		BudgetBurst:         DefaultBudgetBurst,
		NonFatalStatusCodes: []codes.Code{codes.Unavailable},
	}
}

// Options returns the options that configure a Hedger as c says. New
// checks them: fields left at zero in a Config made by hand are errors,
// except Methods, AdaptiveDelay and NonFatalStatusCodes; start from
// DefaultConfig.
func (c *Config) Options() []Option {
	opts := []Option{
		Methods(c.Methods...),
		Delay(c.HedgingDelay),
		MaxAttempts(c.MaxAttempts),
		Budget(c.Budget),
		BudgetBurst(c.BudgetBurst),
		NonFatalCodes(c.NonFatalStatusCodes...),
	}
	if c.AdaptiveDelay != 0 {
		opts = append(opts, AdaptiveDelay(c.AdaptiveDelay))
	}
	return opts
}

// ParseConfig parses a Hedger's configuration from JSON, for example
//
//	{
//	  "methods": ["/shop.Catalog/GetItem", "/shop.Search/*"],
//	  "hedgingDelay": "10ms",
//	  "adaptiveDelay": 0.95,
//	  "maxAttempts": 2,
//	  "budget": 0.1,
//	  "budgetBurst": 10,
//	  "nonFatalStatusCodes": ["UNAVAILABLE"]
//	}
//
// Every field is optional; missing fields, null values and an empty or
// null config take the defaults of New, with one exception as with the
// options: a hedgingDelay without adaptiveDelay fixes the delay
// (adaptiveDelay 0 does too). A gRPC hedgingPolicy object
// ({"maxAttempts": 3, "hedgingDelay": "0.5s", "nonFatalStatusCodes":
// [...]}) is thus a valid config with the same meaning, except that a
// missing nonFatalStatusCodes means ["UNAVAILABLE"], not gRPC's empty list. Durations are strings
// in Go's time.ParseDuration form ("250ms", "1m30s"), which covers
// protobuf's JSON form of google.protobuf.Duration ("0.01s"); status codes
// are names ("UNAVAILABLE") or numbers (14). Unknown or repeated fields,
// values of the wrong type and values out of range are rejected with an
// error that names the field.
func ParseConfig(js []byte) (*Config, error) {
	cfg := DefaultConfig()
	if len(bytes.TrimSpace(js)) == 0 {
		return cfg, nil
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("hedge: config is not valid JSON: %v", err)
	}
	switch tok {
	case nil: // null
	case json.Delim('{'):
		if err := parseFields(dec, cfg); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("hedge: config must be a JSON object, got %s", jsonconf.DescribeToken(tok))
	}
	if _, err := dec.Token(); err != io.EOF {
		if err != nil {
			return nil, fmt.Errorf("hedge: config is not valid JSON: %v", err)
		}
		return nil, errors.New("hedge: unexpected data after the config object")
	}
	return cfg, nil
}

const knownFields = `"methods", "hedgingDelay", "adaptiveDelay", "maxAttempts", "budget", "budgetBurst", "nonFatalStatusCodes"`

// parseFields reads the members of the config object, whose '{' was read,
// up to and including its '}'.
func parseFields(dec *json.Decoder, cfg *Config) error {
	seen := make(map[string]bool)
	given := make(map[string]bool) // with a value other than null
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("hedge: config is not valid JSON: %v", err)
		}
		key, _ := tok.(string) // object keys are always strings
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			return fmt.Errorf("hedge: config is not valid JSON: %v", err)
		}
		if seen[key] {
			return fmt.Errorf("hedge: field %q given twice", key)
		}
		seen[key] = true
		if string(val) == "null" {
			continue
		}
		given[key] = true
		var ferr error
		switch key {
		case "methods":
			ferr = parseMethods(val, cfg)
		case "hedgingDelay":
			ferr = parseDuration(val, &cfg.HedgingDelay)
		case "adaptiveDelay":
			ferr = parseFloat(val, &cfg.AdaptiveDelay, func(q float64) error {
				if q == 0 {
					return nil // a fixed delay
				}
				return checkQuantile(q)
			})
		case "maxAttempts":
			ferr = parseInt(val, &cfg.MaxAttempts, checkMaxAttempts)
		case "budget":
			ferr = parseFloat(val, &cfg.Budget, checkBudget)
		case "budgetBurst":
			ferr = parseInt(val, &cfg.BudgetBurst, checkBurst)
		case "nonFatalStatusCodes":
			ferr = parseCodes(val, cfg)
		default:
			return fmt.Errorf("hedge: unknown field %q (known fields: %s)", key, knownFields)
		}
		if ferr != nil {
			return fmt.Errorf("hedge: field %q: %w", key, ferr)
		}
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return fmt.Errorf("hedge: config is not valid JSON: %v", err)
	}
	if given["hedgingDelay"] && !given["adaptiveDelay"] {
		cfg.AdaptiveDelay = 0 // a fixed delay
	}
	return nil
}

func parseMethods(val json.RawMessage, cfg *Config) error {
	var names []string
	if err := json.Unmarshal(val, &names); err != nil {
		return fmt.Errorf("must be an array of full method names, got %s", jsonconf.Truncate(string(val)))
	}
	for _, n := range names {
		if err := checkMethod(n); err != nil {
			return fmt.Errorf("%s: %w", jsonconf.Truncate(strconv.Quote(n)), err)
		}
	}
	cfg.Methods = names
	return nil
}

func parseDuration(val json.RawMessage, dst *time.Duration) error {
	var s string
	if err := json.Unmarshal(val, &s); err != nil {
		return fmt.Errorf("must be a duration string such as \"10ms\", got %s", jsonconf.Truncate(string(val)))
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("invalid duration %s: want a duration such as \"10ms\" or \"0.01s\"", jsonconf.Truncate(strconv.Quote(s)))
	}
	if err := checkDelay(d); err != nil {
		return fmt.Errorf("%w, got %s", err, jsonconf.Truncate(strconv.Quote(s)))
	}
	*dst = d
	return nil
}

func parseFloat(val json.RawMessage, dst *float64, check func(float64) error) error {
	var f float64
	if err := json.Unmarshal(val, &f); err != nil {
		return fmt.Errorf("must be a number, got %s", jsonconf.Truncate(string(val)))
	}
	if err := check(f); err != nil {
		return fmt.Errorf("%w, got %v", err, f)
	}
	*dst = f
	return nil
}

func parseInt(val json.RawMessage, dst *int, check func(int) error) error {
	var n int
	if err := json.Unmarshal(val, &n); err != nil {
		return fmt.Errorf("must be an integer, got %s", jsonconf.Truncate(string(val)))
	}
	if err := check(n); err != nil {
		return fmt.Errorf("%w, got %d", err, n)
	}
	*dst = n
	return nil
}

func parseCodes(val json.RawMessage, cfg *Config) error {
	var raw []json.RawMessage
	if err := json.Unmarshal(val, &raw); err != nil {
		return fmt.Errorf("must be an array of status codes such as [\"UNAVAILABLE\"], got %s", jsonconf.Truncate(string(val)))
	}
	cs := make([]codes.Code, 0, len(raw))
	for _, r := range raw {
		var c codes.Code
		if string(r) == "null" || c.UnmarshalJSON(r) != nil {
			return fmt.Errorf("%s is not a status code: want a name such as \"UNAVAILABLE\" or a number such as 14", jsonconf.Truncate(string(r)))
		}
		if err := checkCode(c); err != nil {
			return err
		}
		cs = append(cs, c)
	}
	cfg.NonFatalStatusCodes = cs
	return nil
}
