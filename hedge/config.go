package hedge

import (
	"fmt"
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
	j := jsonConfig{MaxAttempts: cfg.MaxAttempts, Budget: cfg.Budget, BudgetBurst: cfg.BudgetBurst}
	if err := jsonconf.Decode(js, &j); err != nil {
		return nil, fmt.Errorf("hedge: %w", err)
	}
	if err := j.apply(cfg); err != nil {
		return nil, fmt.Errorf("hedge: %w", err)
	}
	return cfg, nil
}

// jsonConfig is the JSON form of Config; pointers tell a field given from
// one left out.
type jsonConfig struct {
	Methods             []string           `json:"methods"`
	HedgingDelay        *jsonconf.Duration `json:"hedgingDelay"`
	AdaptiveDelay       *float64           `json:"adaptiveDelay"`
	MaxAttempts         int                `json:"maxAttempts"`
	Budget              float64            `json:"budget"`
	BudgetBurst         int                `json:"budgetBurst"`
	NonFatalStatusCodes []jsonconf.Code    `json:"nonFatalStatusCodes"`
}

// apply checks j and sets cfg's fields from it.
func (j *jsonConfig) apply(cfg *Config) error {
	field := func(path string, err error, got any) error {
		if err == nil {
			return nil
		}
		return &jsonconf.FieldError{Path: path, Err: fmt.Errorf("%w, got %v", err, got)}
	}
	for _, m := range j.Methods {
		if err := checkMethod(m); err != nil {
			return &jsonconf.FieldError{Path: "methods", Err: fmt.Errorf("%s: %w", jsonconf.Truncate(strconv.Quote(m)), err)}
		}
	}
	if j.Methods != nil {
		cfg.Methods = j.Methods
	}
	if d := j.HedgingDelay; d != nil {
		if err := field("hedgingDelay", checkDelay(time.Duration(*d)), strconv.Quote(time.Duration(*d).String())); err != nil {
			return err
		}
		cfg.HedgingDelay, cfg.AdaptiveDelay = time.Duration(*d), 0 // a fixed delay unless adaptiveDelay says otherwise
	}
	if q := j.AdaptiveDelay; q != nil {
		if *q != 0 {
			if err := field("adaptiveDelay", checkQuantile(*q), *q); err != nil {
				return err
			}
		}
		cfg.AdaptiveDelay = *q
	}
	for _, err := range []error{
		field("maxAttempts", checkMaxAttempts(j.MaxAttempts), j.MaxAttempts),
		field("budget", checkBudget(j.Budget), j.Budget),
		field("budgetBurst", checkBurst(j.BudgetBurst), j.BudgetBurst),
	} {
		if err != nil {
			return err
		}
	}
	cfg.MaxAttempts, cfg.Budget, cfg.BudgetBurst = j.MaxAttempts, j.Budget, j.BudgetBurst
	if j.NonFatalStatusCodes != nil {
		cfg.NonFatalStatusCodes = make([]codes.Code, 0, len(j.NonFatalStatusCodes))
		for _, c := range j.NonFatalStatusCodes {
			if err := checkCode(codes.Code(c)); err != nil {
				return &jsonconf.FieldError{Path: "nonFatalStatusCodes", Err: err}
			}
			cfg.NonFatalStatusCodes = append(cfg.NonFatalStatusCodes, codes.Code(c))
		}
	}
	return nil
}
