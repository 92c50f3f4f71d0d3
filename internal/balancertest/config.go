package balancertest

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc/balancer"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/serviceconfig"
)

// This file holds what the config tests of the policies share. Each
// policy has a ParseConfig(json.RawMessage) (*Config, error) whose errors
// start with the policy's name, and registers a builder that parses with
// it.

// Parser is a policy's ParseConfig.
type Parser[C any] func(json.RawMessage) (*C, error)

// Update parses config with parse (a policy's ParseConfig) and sends b the
// config and the endpoint set eps, failing the test if either fails.
func Update[C serviceconfig.LoadBalancingConfig](t testing.TB, b balancer.Balancer, parse func(json.RawMessage) (C, error), config string, eps []resolver.Endpoint) {
	t.Helper()
	cfg, err := parse(json.RawMessage(config))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.UpdateClientConnState(balancer.ClientConnState{
		ResolverState:  resolver.State{Endpoints: eps},
		BalancerConfig: cfg,
	}); err != nil {
		t.Fatal(err)
	}
}

// With returns a function that makes a copy of def changed by f: the
// config a ParseConfig table expects of a JSON that sets a few fields.
func With[C any](def C) func(f func(*C)) C {
	return func(f func(*C)) C {
		c := def
		f(&c)
		return c
	}
}

// Parses checks that parse accepts js and gives want.
func Parses[C comparable](t *testing.T, parse Parser[C], js string, want C) {
	t.Helper()
	got, err := parse(json.RawMessage(js))
	if err != nil {
		t.Fatalf("ParseConfig(%q): %v", js, err)
	}
	if *got != want {
		t.Errorf("ParseConfig(%q) = %+v, want %+v", js, *got, want)
	}
}

// Refuses checks that parse refuses js, returning no config, with an error
// that starts with "policy: " and mentions each of want.
func Refuses[C any](t *testing.T, policy string, parse Parser[C], js string, want ...string) {
	t.Helper()
	got, err := parse(json.RawMessage(js))
	if err == nil {
		t.Fatalf("ParseConfig(%q) = %+v, want an error mentioning %q", js, got, want)
	}
	CheckError(t, policy, got, err)
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("ParseConfig(%q) error %q does not mention %q", js, err, w)
		}
	}
}

// CheckError checks what a ParseConfig that failed with err returned: no
// config, and an error that starts with "policy: ".
func CheckError[C any](t *testing.T, policy string, got *C, err error) {
	t.Helper()
	if got != nil {
		t.Errorf("ParseConfig returned %+v with its error %v", got, err)
	}
	if !strings.HasPrefix(err.Error(), policy+": ") {
		t.Errorf("error %q does not start with %q", err, policy+": ")
	}
}

// ConfigParser returns the config parser of the balancer registered as
// name, failing the test if there is none.
func ConfigParser(t *testing.T, name string) balancer.ConfigParser {
	t.Helper()
	bb := balancer.Get(name)
	if bb == nil {
		t.Fatalf("no balancer registered as %q", name)
	}
	p, ok := bb.(balancer.ConfigParser)
	if !ok {
		t.Fatalf("builder %T is not a balancer.ConfigParser", bb)
	}
	return p
}

// BuilderParses returns what the ConfigParser of the balancer registered
// as name makes of good, failing the test if it refuses it; and it checks
// that the parser refuses bad with a nil config, not a typed nil.
func BuilderParses(t *testing.T, name, good, bad string) serviceconfig.LoadBalancingConfig {
	t.Helper()
	p := ConfigParser(t, name)
	if cfg, err := p.ParseConfig(json.RawMessage(bad)); err == nil || cfg != nil {
		t.Errorf("ParseConfig(%s) = %#v, %v; want nil and an error", bad, cfg, err)
	}
	cfg, err := p.ParseConfig(json.RawMessage(good))
	if err != nil {
		t.Fatalf("ParseConfig(%s): %v", good, err)
	}
	return cfg
}

// Reparse writes cfg as JSON and parses it again, failing the test if
// either step fails; for the round trips of the fuzz tests.
func Reparse[C any](t *testing.T, parse Parser[C], cfg *C) *C {
	t.Helper()
	js, err := json.Marshal(cfg)
	if err != nil {
		t.Fatalf("marshalling %+v: %v", cfg, err)
	}
	again, err := parse(js)
	if err != nil {
		t.Fatalf("ParseConfig(%s) (from %+v): %v", js, cfg, err)
	}
	return again
}

// RoundTrips checks that cfg means the same after Reparse.
func RoundTrips[C comparable](t *testing.T, parse Parser[C], cfg *C) {
	t.Helper()
	if again := Reparse(t, parse, cfg); *again != *cfg {
		t.Errorf("round trip of %+v through JSON gave %+v", *cfg, *again)
	}
}

// MarshalsAs checks that the config parse makes of in is written as want.
func MarshalsAs[C any](t *testing.T, parse Parser[C], in, want string) {
	t.Helper()
	cfg, err := parse(json.RawMessage(in))
	if err != nil {
		t.Fatal(err)
	}
	js, err := json.Marshal(cfg)
	if err != nil || string(js) != want {
		t.Errorf("json.Marshal(ParseConfig(%q)) = %s, %v; want %s", in, js, err, want)
	}
}

// EmptyConfigs are the ways to give a policy no config at all: ParseConfig
// must make its defaults of each.
var EmptyConfigs = []string{``, `  `, `null`, `{}`, ` { } `}

// CheckParsesEmpty checks that parse makes def of each of EmptyConfigs.
func CheckParsesEmpty[C comparable](t *testing.T, parse Parser[C], def C) {
	t.Helper()
	for _, js := range EmptyConfigs {
		Parses(t, parse, js, def)
	}
}

// NotObjects are configs that are not one JSON object, and a part of the
// error every policy's ParseConfig must refuse each with.
var NotObjects = map[string]string{
	`{`:     "not valid JSON",
	`{} {}`: "unexpected data after the config object",
	`{}]`:   "not valid JSON",
	`[]`:    "must be a JSON object, got an array",
	`"10s"`: "must be a JSON object, got a string",
	`10`:    "must be a JSON object, got a number",
	`true`:  "must be a JSON object, got a boolean",
}

// CheckParses runs Parses on every config of good (JSON: what
// ParseConfig must make of it), each in a subtest named by its JSON.
func CheckParses[C comparable](t *testing.T, parse Parser[C], good map[string]C) {
	t.Helper()
	for _, js := range slices.Sorted(maps.Keys(good)) {
		t.Run(js, func(t *testing.T) { Parses(t, parse, js, good[js]) })
	}
}

// CheckRefuses runs Refuses on every config of bad (JSON: a part of the
// error) and of NotObjects, each in a subtest named by its JSON.
func CheckRefuses[C any](t *testing.T, policy string, parse Parser[C], bad map[string]string) {
	t.Helper()
	all := maps.Clone(NotObjects)
	maps.Copy(all, bad)
	for _, js := range slices.Sorted(maps.Keys(all)) {
		t.Run(js, func(t *testing.T) { Refuses(t, policy, parse, js, all[js]) })
	}
}

// FuzzParse fuzzes parse, starting from seeds, EmptyConfigs and
// NotObjects: what it refuses, it must refuse as CheckError says; what it
// accepts must be valid JSON (or blank, for the defaults), and check
// checks it.
func FuzzParse[C any](f *testing.F, policy string, parse Parser[C], seeds []string, check func(t *testing.T, js []byte, cfg *C)) {
	for _, s := range slices.Concat(seeds, EmptyConfigs, slices.Sorted(maps.Keys(NotObjects))) {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, js []byte) {
		cfg, err := parse(js)
		if err != nil {
			CheckError(t, policy, cfg, err)
			return
		}
		// Only valid JSON is accepted, or a blank config (the defaults).
		if strings.TrimSpace(string(js)) != "" && !json.Valid(js) {
			t.Errorf("ParseConfig(%q) accepted invalid JSON", js)
		}
		check(t, js, cfg)
	})
}
