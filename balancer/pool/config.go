package pool

import (
	"encoding/json"
	"fmt"

	"google.golang.org/grpc/serviceconfig"

	"github.com/grpclb/grpclb/internal/jsonconf"
)

// Config is the policy's configuration.
type Config struct {
	serviceconfig.LoadBalancingConfig `json:"-"`

	// Connections per address. Default 4, from 1 to 256.
	Connections int `json:"connections,omitempty" range:"[0,256]"`
	// Pick is "round_robin" (default) or "p2c".
	Pick string `json:"pick,omitempty" oneof:"round_robin p2c"`
}

// Defaults and limits.
const (
	DefaultConnections = 4
	MaxConnections     = 256
	PickRoundRobin     = "round_robin"
	PickP2C            = "p2c"
)

// ParseConfig parses the policy's JSON configuration, filling defaults and
// rejecting unknown fields and bad values with an error naming the field.
func ParseConfig(js json.RawMessage) (*Config, error) {
	cfg := &Config{Pick: PickRoundRobin}
	if err := jsonconf.Decode(js, cfg); err != nil {
		return nil, fmt.Errorf("pool: %w", err)
	}
	if cfg.Connections == 0 {
		cfg.Connections = DefaultConnections
	}
	return cfg, nil
}
