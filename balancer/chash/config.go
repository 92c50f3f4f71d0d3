package chash

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"

	"google.golang.org/grpc/serviceconfig"

	"github.com/grpclb/grpclb/internal/jsonconf"
)

// Defaults and limits of the configuration.
const (
	// DefaultLoadFactor is the load factor c used when the config has none.
	DefaultLoadFactor = 1.25
	// MaxVirtualNodes is the largest virtualNodes accepted.
	MaxVirtualNodes = 10000

	// MissingKeyRandom sends a call without a key to a random READY
	// endpoint (the default).
	MissingKeyRandom = "random"
	// MissingKeyError fails a call without a key.
	MissingKeyError = "error"
)

// Config is the consistent_hash configuration, parsed from the policy's
// entry in the service config's loadBalancingConfig:
//
//	{"loadBalancingConfig": [{"consistent_hash": {
//	    "virtualNodes": 0,
//	    "loadFactor": 1.25,
//	    "hashHeader": "x-user-id",
//	    "missingKey": "random"
//	}}]}
//
// Every field is optional; unknown fields are an error.
type Config struct {
	serviceconfig.LoadBalancingConfig `json:"-"`

	// VirtualNodes is the number of points an endpoint of weight 1 gets on
	// the ring; an endpoint of weight w gets w times as many (at least
	// one). More points spread keys more evenly and keep the keys moved by
	// a change of one endpoint closer to the ideal, at the cost of memory
	// (about 10 bytes a point) and of the rebuild when the endpoint set
	// changes.
	//
	// 0 (the default) chooses automatically: 1000 points per unit of weight
	// while the ring stays within 65536 (2^16) points, and fewer beyond, so
	// that the ring stays at about 2^16 points. 10 endpoints get 1000
	// points each: each one's share of the keys is within a few percent of
	// 1/n, and so are the keys that move when one comes or goes (measured:
	// at most 1.04 × 1/n), all of them to or from that endpoint. 1000
	// endpoints get 65 or 66 points each (shares vary by about ±12%, which
	// bounded loads absorb) and the ring rebuilds in about 2 ms. The cost of
	// the cap: beyond 65 units of weight, a change of the endpoint set also
	// changes every endpoint's number of points, so about as many keys
	// again move between endpoints that stayed (about 2 × 1/n in all).
	//
	// An explicit value (1 to MaxVirtualNodes) fixes the points per unit
	// of weight whatever the number of endpoints, so only the keys of the
	// endpoint that came or went move; a ring that would exceed 2^20
	// points is scaled down to 2^20.
	VirtualNodes int `json:"virtualNodes,omitempty" range:"[0,10000]"`

	// LoadFactor is c of "Consistent Hashing with Bounded Loads": an
	// endpoint takes a new call only while its in-flight calls + 1 stay
	// within ceil(c × (all in-flight calls + 1) × its weight / the weight of
	// all READY endpoints) (with equal weights: ceil(c × (total + 1) / READY
	// endpoints)); otherwise the call goes to the next endpoint clockwise
	// on the ring that has room. It must be greater than 1; 0 turns
	// bounding off (every key always goes to its owner while it is READY).
	// The default is DefaultLoadFactor (1.25).
	LoadFactor float64 `json:"loadFactor"`

	// HashHeader, when set, names an outgoing metadata header whose value
	// is the key of calls that carry no key in their context (WithKey wins
	// when both are present). Several values are joined with ",". The name
	// is lower-cased; it must be a valid metadata key and must not start
	// with "grpc-".
	HashHeader string `json:"hashHeader,omitempty"`

	// MissingKey says what happens to a call without a key: "random" (the
	// default) sends it to a random READY endpoint (subject to the load
	// bound), "error" fails it (see the package documentation for the
	// status the caller sees).
	MissingKey string `json:"missingKey,omitempty" oneof:"random error"`
}

// ParseConfig parses the JSON configuration of the consistent_hash policy,
// fills in defaults and validates it. Empty input or null is the default
// configuration. Errors name the offending field.
func ParseConfig(js json.RawMessage) (*Config, error) {
	cfg := &Config{LoadFactor: DefaultLoadFactor, MissingKey: MissingKeyRandom}
	if err := jsonconf.Decode(js, cfg); err != nil {
		return nil, fmt.Errorf("%s: %w", Name, err)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// validate checks the fields Decode's tags do not and normalises
// HashHeader.
func (c *Config) validate() error {
	switch lf := c.LoadFactor; {
	case math.IsNaN(lf) || math.IsInf(lf, 0):
		return fmt.Errorf("%s: loadFactor: %v is not a number", Name, lf)
	case lf < 0:
		return fmt.Errorf("%s: loadFactor: %v is negative: want 0 (no bound) or greater than 1", Name, lf)
	case lf > 0 && lf <= 1:
		return fmt.Errorf("%s: loadFactor: %v must be greater than 1 (every endpoint would be full), or 0 to turn bounding off", Name, lf)
	}
	if c.HashHeader != "" {
		h := strings.ToLower(c.HashHeader)
		if err := validHeader(h); err != nil {
			return fmt.Errorf("%s: hashHeader: %q %v", Name, c.HashHeader, err)
		}
		c.HashHeader = h
	}
	return nil
}

// validHeader checks a lower-cased metadata key: the characters HTTP/2
// header names allow in gRPC metadata, and not a reserved "grpc-" key.
func validHeader(h string) error {
	if strings.HasPrefix(h, "grpc-") {
		return errors.New(`starts with "grpc-", which is reserved for gRPC`)
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return fmt.Errorf("has the character %q; a metadata key has only 0-9, a-z, \"-\", \"_\" and \".\"", c)
		}
	}
	return nil
}
