package subset

import (
	"encoding/json"
	"fmt"
	"math"

	"google.golang.org/grpc/balancer/roundrobin"
	"google.golang.org/grpc/serviceconfig"

	"github.com/grpclb/grpclb/internal/jsonconf"
)

// Bounds of the config's numbers. maxSlots bounds clientCount ×
// subsetSize, which the time to compute the assignment is proportional to
// (times the number of backends).
const (
	maxSubsetSize  = 10000
	maxClientCount = 100000
	maxSlots       = 1000000
)

// Config is the parsed configuration of the deterministic_subset policy.
// Its JSON form, in a service config's loadBalancingConfig, is
//
//	{"subsetSize": 10, "clientCount": 300, "clientIndex": 3,
//	 "childPolicy": [{"round_robin": {}}]}
//
// See ParseConfig and the package documentation.
type Config struct {
	serviceconfig.LoadBalancingConfig `json:"-"`

	// SubsetSize is how many backends each client uses (all of them when
	// there are no more). In [1, 10000].
	SubsetSize int
	// ClientCount is the number of clients the backends are shared by. In
	// [1, 100000], and ClientCount × SubsetSize is at most 1,000,000.
	ClientCount int
	// ClientIndex is this client's number, in [0, ClientCount); -1 when the
	// config has none and it is derived from the host name (see
	// IndexFromHostname).
	ClientIndex int
	// ChildPolicy balances over the subset.
	ChildPolicy ChildPolicy
	// Sticky makes the assignment follow the history of the sets: each
	// change is repaired from the previous assignment (Repair) instead of
	// computed from the set alone (Assign). It moves the fewest
	// memberships, but clients agree only while they see the same sets in
	// the same order; see the package documentation. Off by default.
	Sticky bool
}

// ChildPolicy is the chosen child policy: the first registered one of the
// childPolicy list.
type ChildPolicy struct {
	Name   string
	Config serviceconfig.LoadBalancingConfig // as parsed by the child; may be nil
	JSON   json.RawMessage                   // the child's config, compacted
}

// ParseConfig parses the JSON configuration of the deterministic_subset
// policy, the value of its key in a service config's loadBalancingConfig:
//
//	{
//	  "subsetSize": 10,
//	  "clientCount": 300,
//	  "clientIndex": 3,
//	  "childPolicy": [{"round_robin": {}}],
//	  "sticky": false
//	}
//
// subsetSize and clientCount are required integers; clientIndex is an
// integer in [0, clientCount), or missing (or null) to derive it from the
// host name when the policy starts (IndexFromHostname). childPolicy is a
// list of {"name": config} objects, as in loadBalancingConfig: the first
// registered policy is used and parses its own config; it defaults to
// round_robin. sticky is a boolean, false by default (see Config.Sticky).
// Unknown or repeated fields, values of the wrong type or out
// of range, and child policies that are not registered are rejected with an
// error that names the field.
func ParseConfig(js json.RawMessage) (*Config, error) {
	cfg := &Config{
		ClientIndex: -1,
		ChildPolicy: ChildPolicy{Name: roundrobin.Name, JSON: json.RawMessage("{}")},
	}
	fields, err := objectFields(js)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", Name, err)
	}
	var haveSize, haveCount bool
	for _, f := range fields {
		if string(f.Value) == "null" {
			continue
		}
		var err error
		switch f.Key {
		case "subsetSize":
			haveSize = true
			err = parseInt(f.Value, &cfg.SubsetSize, 1, maxSubsetSize)
		case "clientCount":
			haveCount = true
			err = parseInt(f.Value, &cfg.ClientCount, 1, maxClientCount)
		case "clientIndex":
			err = parseInt(f.Value, &cfg.ClientIndex, 0, maxClientCount-1)
		case "childPolicy":
			cfg.ChildPolicy, err = parseChildPolicy(f.Value)
		case "sticky":
			if err = json.Unmarshal(f.Value, &cfg.Sticky); err != nil {
				err = fmt.Errorf("must be true or false, got %s", jsonconf.Truncate(string(f.Value)))
			}
		default:
			return nil, fmt.Errorf("%s: unknown field %q (known fields: \"subsetSize\", \"clientCount\", \"clientIndex\", \"childPolicy\", \"sticky\")", Name, f.Key)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: field %q: %w", Name, f.Key, err)
		}
	}
	switch {
	case !haveSize:
		return nil, fmt.Errorf("%s: field \"subsetSize\" is required (the number of backends each client uses, such as 10)", Name)
	case !haveCount:
		return nil, fmt.Errorf("%s: field \"clientCount\" is required (the number of clients sharing the backends)", Name)
	case cfg.ClientIndex >= cfg.ClientCount:
		return nil, fmt.Errorf("%s: field \"clientIndex\": must be less than clientCount (%d), got %d", Name, cfg.ClientCount, cfg.ClientIndex)
	case cfg.ClientCount*cfg.SubsetSize > maxSlots:
		return nil, fmt.Errorf("%s: field \"clientCount\": clientCount × subsetSize must be at most %d, got %d × %d", Name, maxSlots, cfg.ClientCount, cfg.SubsetSize)
	}
	return cfg, nil
}

// objectFields reads a JSON object's members in order (see
// jsonconf.Fields).
func objectFields(js json.RawMessage) ([]jsonconf.Field, error) { return jsonconf.Fields(js, "config") }

// parseInt parses a JSON integer in [lo, hi] into dst.
func parseInt(val json.RawMessage, dst *int, lo, hi int) error {
	var f float64
	if err := json.Unmarshal(val, &f); err != nil {
		return fmt.Errorf("must be an integer in [%d, %d], got %s", lo, hi, jsonconf.Truncate(string(val)))
	}
	if f != math.Trunc(f) || f < float64(lo) || f > float64(hi) {
		return fmt.Errorf("must be an integer in [%d, %d], got %v", lo, hi, f)
	}
	*dst = int(f)
	return nil
}

// parseChildPolicy picks the first registered policy of a list of
// {"name": config} objects and parses its config.
func parseChildPolicy(val json.RawMessage) (ChildPolicy, error) {
	name, js, cfg, err := jsonconf.ChildPolicy(val, Name)
	if err != nil {
		return ChildPolicy{}, err
	}
	return ChildPolicy{Name: name, JSON: js, Config: cfg}, nil
}
