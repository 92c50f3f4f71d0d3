package subset

import (
	"encoding/json"
	"fmt"

	"google.golang.org/grpc/serviceconfig"

	"github.com/grpclb/grpclb/internal/jsonconf"
)

// maxSlots bounds clientCount × subsetSize, which the time to compute the assignment is proportional to
// (times the number of backends).
const maxSlots = 1000000

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
	SubsetSize int `json:"subsetSize" range:"[1,10000]"`
	// ClientCount is the number of clients the backends are shared by. In
	// [1, 100000], and ClientCount × SubsetSize is at most 1,000,000.
	ClientCount int `json:"clientCount" range:"[1,100000]"`
	// ClientIndex is this client's number, in [0, ClientCount); -1 when the
	// config has none and it is derived from the host name (see
	// IndexFromHostname).
	ClientIndex int `json:"clientIndex" range:"[0,99999]"`
	// ChildPolicy balances over the subset.
	ChildPolicy ChildPolicy `json:"childPolicy"`
	// Sticky makes the assignment follow the history of the sets: each
	// change is repaired from the previous assignment (Repair) instead of
	// computed from the set alone (Assign). It moves the fewest
	// memberships, but clients agree only while they see the same sets in
	// the same order; see the package documentation. Off by default.
	Sticky bool `json:"sticky"`
}

// ChildPolicy is the chosen child policy: the first registered one of the
// childPolicy list.
type ChildPolicy = jsonconf.Child

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
	cfg := &Config{ClientIndex: -1, ChildPolicy: jsonconf.RoundRobin(Name)}
	if err := jsonconf.Decode(js, cfg); err != nil {
		return nil, fmt.Errorf("%s: %w", Name, err)
	}
	switch {
	case cfg.SubsetSize == 0:
		return nil, fmt.Errorf("%s: field \"subsetSize\" is required (the number of backends each client uses, such as 10)", Name)
	case cfg.ClientCount == 0:
		return nil, fmt.Errorf("%s: field \"clientCount\" is required (the number of clients sharing the backends)", Name)
	case cfg.ClientIndex >= cfg.ClientCount:
		return nil, fmt.Errorf("%s: field \"clientIndex\": must be less than clientCount (%d), got %d", Name, cfg.ClientCount, cfg.ClientIndex)
	case cfg.ClientCount*cfg.SubsetSize > maxSlots:
		return nil, fmt.Errorf("%s: field \"clientCount\": clientCount × subsetSize must be at most %d, got %d × %d", Name, maxSlots, cfg.ClientCount, cfg.SubsetSize)
	}
	return cfg, nil
}
