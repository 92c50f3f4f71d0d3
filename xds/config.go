package xds

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"google.golang.org/grpc/resolver"
)

// Policy is the load-balancing policy a service's clients run.
type Policy string

// The policies a Service can ask for. Each is served as the Cluster's
// load_balancing_policy; the clients implement it (gRFC A52).
const (
	// RoundRobin spreads calls evenly over the endpoints (the default).
	RoundRobin Policy = "round_robin"
	// LeastRequest sends each call to the less loaded of two random
	// endpoints (gRFC A48).
	LeastRequest Policy = "least_request"
	// RingHash maps a call to an endpoint by a hash of its HashHeader
	// value, the same value to the same endpoint (gRFC A42).
	RingHash Policy = "ring_hash"
	// WeightedRoundRobin weighs endpoints by the load they report with ORCA
	// (gRFC A58); endpoints that report nothing share calls evenly.
	WeightedRoundRobin Policy = "weighted_round_robin"
)

// policies are the known policies, in the order error messages list them.
var policies = []Policy{RoundRobin, LeastRequest, RingHash, WeightedRoundRobin}

// Config is what a Server serves: one entry per service.
type Config struct {
	Services []Service `json:"services"`
}

// Service is one service clients reach at xds:///Name.
type Service struct {
	// Name is the service's name in clients' targets (xds:///Name) and of
	// each of its xDS resources. Letters, digits and . _ - : only.
	Name string `json:"name"`
	// Target is the grpclb (or grpc-go) resolver target its endpoints come
	// from, for example static:///10.0.0.1:50051,10.0.0.2:50051 or
	// dnspoll:///backend.internal:50051. A resolver must be registered for
	// its scheme.
	Target string `json:"target"`
	// Policy is the clients' load-balancing policy; "" is RoundRobin.
	Policy Policy `json:"policy,omitempty"`
	// HashHeader is the request header whose value ring_hash hashes; only
	// with RingHash. Without it, each call hashes at random.
	HashHeader string `json:"hashHeader,omitempty"`
	// ZoneAware, when nil or true, sends a client that has a zone to the
	// endpoints of its zone first, and to the others only when those fail
	// (see "Zones" in the package documentation); false spreads every
	// client's calls over every zone.
	ZoneAware *bool `json:"zoneAware,omitempty"`
	// MinZoneEndpoints is how many endpoints a client's zone needs for its
	// clients to prefer it; with fewer, they use every zone. 0 means 1.
	// Only with ZoneAware.
	MinZoneEndpoints int `json:"minZoneEndpoints,omitempty"`
	// OutlierDetection, when set, has clients eject the endpoints whose
	// calls fail more than the others' (gRFC A50).
	OutlierDetection *OutlierDetection `json:"outlierDetection,omitempty"`
	// Subset, when set, gives each client only Subset.Size of the
	// endpoints, every endpoint to as many clients (see "Subsetting" in
	// the package documentation).
	Subset *Subset `json:"subset,omitempty"`
}

// zoneAware reports whether s's clients prefer their zone.
func (s Service) zoneAware() bool { return s.ZoneAware == nil || *s.ZoneAware }

// minZoneEndpoints returns s's MinZoneEndpoints, 1 when none is set.
func (s Service) minZoneEndpoints() int { return max(s.MinZoneEndpoints, 1) }

// policy returns s's policy, RoundRobin when none is set.
func (s Service) policy() Policy {
	if s.Policy == "" {
		return RoundRobin
	}
	return s.Policy
}

// ParseConfig decodes a JSON Config ({"services":[{"name":...,
// "target":..., "policy":...}]}), refusing unknown fields, and validates
// it.
func ParseConfig(data []byte) (Config, error) {
	var cfg Config
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return Config{}, fmt.Errorf("xds: config: %w", err)
	}
	if dec.More() {
		return Config{}, errors.New("xds: config: more than one JSON value")
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// Validate reports every problem of c, each naming the service and what is
// wrong: no services, an empty, malformed or duplicate name, a target
// that does not parse or whose scheme has no registered resolver, an
// unknown policy, a hash header without ring_hash, a negative
// minZoneEndpoints or one without zoneAware, an outlierDetection or subset
// field out of its range.
func (c Config) Validate() error {
	if len(c.Services) == 0 {
		return errors.New("xds: config has no services")
	}
	var errs []error
	seen := make(map[string]int, len(c.Services))
	for i, s := range c.Services {
		if err := s.validate(); err != nil {
			errs = append(errs, fmt.Errorf("xds: service %d (%q): %w", i, s.Name, err))
		}
		if j, ok := seen[s.Name]; ok && s.Name != "" {
			errs = append(errs, fmt.Errorf("xds: service %d (%q): name already used by service %d", i, s.Name, j))
		} else {
			seen[s.Name] = i
		}
	}
	return errors.Join(errs...)
}

func (s Service) validate() error {
	if err := validateName(s.Name); err != nil {
		return err
	}
	if _, err := parseTarget(s.Target); err != nil {
		return err
	}
	switch p := s.policy(); p {
	case RoundRobin, LeastRequest, RingHash, WeightedRoundRobin:
	default:
		return fmt.Errorf("unknown policy %q (known: %s)", p, policyList())
	}
	if s.MinZoneEndpoints < 0 {
		return fmt.Errorf("minZoneEndpoints %d is negative (0 means 1)", s.MinZoneEndpoints)
	}
	if s.MinZoneEndpoints != 0 && !s.zoneAware() {
		return fmt.Errorf("minZoneEndpoints %d needs zoneAware true (or unset), not false", s.MinZoneEndpoints)
	}
	if s.OutlierDetection != nil {
		if err := s.OutlierDetection.validate(); err != nil {
			return err
		}
	}
	if s.Subset != nil {
		if err := s.Subset.validate(); err != nil {
			return err
		}
	}
	if s.HashHeader != "" {
		if s.policy() != RingHash {
			return fmt.Errorf("hashHeader %q needs policy %q, not %q", s.HashHeader, RingHash, s.policy())
		}
		if h := strings.ToLower(s.HashHeader); h != s.HashHeader || strings.HasPrefix(h, ":") || strings.HasSuffix(h, "-bin") || strings.ContainsAny(h, " \t") {
			return fmt.Errorf("hashHeader %q is not a lower-case, non-binary, non-pseudo header name", s.HashHeader)
		}
	}
	return nil
}

func policyList() string {
	names := make([]string, len(policies))
	for i, p := range policies {
		names[i] = string(p)
	}
	return strings.Join(names, ", ")
}

// validateName checks a service name: it is a client's xds:/// target
// path and every resource's name.
func validateName(name string) error {
	if name == "" {
		return errors.New("empty name")
	}
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-', r == ':':
		default:
			return fmt.Errorf("name has %q: use letters, digits and . _ - : only", r)
		}
	}
	if strings.HasPrefix(name, "xdstp:") {
		return errors.New("name starts with xdstp:, which is a federation resource name")
	}
	return nil
}

// parseTarget parses a resolver target as grpc-go does and checks that a
// resolver is registered for its scheme.
func parseTarget(target string) (resolver.Target, error) {
	if target == "" {
		return resolver.Target{}, errors.New("empty target")
	}
	u, err := url.Parse(target)
	if err != nil {
		return resolver.Target{}, fmt.Errorf("target %q: %w", target, err)
	}
	if u.Scheme == "" {
		return resolver.Target{}, fmt.Errorf("target %q has no scheme (e.g. static:///host:port)", target)
	}
	if resolver.Get(u.Scheme) == nil {
		return resolver.Target{}, fmt.Errorf("target %q: no resolver registered for scheme %q (import its module)", target, u.Scheme)
	}
	return resolver.Target{URL: *u}, nil
}
