package xds_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/grpclb/grpclb/xds"
)

// Validate accepts good configs and names what is wrong in bad ones.
func TestConfigValidate(t *testing.T) {
	svc := func(name, target string) xds.Service { return xds.Service{Name: name, Target: target} }
	on, off := true, false
	tests := []struct {
		name    string
		cfg     xds.Config
		wantErr []string // substrings of the error; none: valid
	}{
		{"one service", xds.Config{Services: []xds.Service{svc("svc", "static:///127.0.0.1:1,127.0.0.1:2")}}, nil},
		{"every policy", xds.Config{Services: []xds.Service{
			{Name: "a", Target: "static:///127.0.0.1:1", Policy: xds.RoundRobin},
			{Name: "b", Target: "static:///127.0.0.1:1", Policy: xds.LeastRequest},
			{Name: "c", Target: "static:///127.0.0.1:1", Policy: xds.RingHash, HashHeader: "x-user"},
			{Name: "d", Target: "static:///127.0.0.1:1", Policy: xds.WeightedRoundRobin},
			{Name: "e.ns.svc:8080", Target: "dnspoll:///backend.internal:50051"},
			{Name: "f", Target: "dns:///backend.internal:50051"},
		}}, nil},
		{"zone knobs", xds.Config{Services: []xds.Service{
			{Name: "a", Target: "static:///127.0.0.1:1", MinZoneEndpoints: 3},
			{Name: "b", Target: "static:///127.0.0.1:1", ZoneAware: &on, MinZoneEndpoints: 1},
			{Name: "c", Target: "static:///127.0.0.1:1", ZoneAware: &off},
		}}, nil},
		{"negative minZoneEndpoints", xds.Config{Services: []xds.Service{{Name: "svc", Target: "static:///127.0.0.1:1", MinZoneEndpoints: -1}}},
			[]string{`service 0 ("svc")`, "minZoneEndpoints -1 is negative"}},
		{"minZoneEndpoints without zoneAware", xds.Config{Services: []xds.Service{{Name: "svc", Target: "static:///127.0.0.1:1", ZoneAware: &off, MinZoneEndpoints: 2}}},
			[]string{`service 0 ("svc")`, "minZoneEndpoints 2 needs zoneAware"}},
		{"outlier detection", xds.Config{Services: []xds.Service{{Name: "svc", Target: "static:///127.0.0.1:1", OutlierDetection: &xds.OutlierDetection{
			Interval: time.Second, MaxEjectionPercent: 100,
			SuccessRate:       &xds.SuccessRateEjection{StdevFactor: 1900, EnforcementPercentage: 100},
			FailurePercentage: &xds.FailurePercentageEjection{Threshold: 100},
		}}}}, nil},
		{"outlier detection without a rule", xds.Config{Services: []xds.Service{{Name: "svc", Target: "static:///127.0.0.1:1", OutlierDetection: &xds.OutlierDetection{}}}},
			[]string{`service 0 ("svc")`, "outlierDetection has neither successRate nor failurePercentage"}},
		{"outlier detection out of range", xds.Config{Services: []xds.Service{{Name: "svc", Target: "static:///127.0.0.1:1", OutlierDetection: &xds.OutlierDetection{
			Interval: -time.Second, MaxEjectionPercent: 101,
			SuccessRate:       &xds.SuccessRateEjection{EnforcementPercentage: -1, MinimumHosts: -2},
			FailurePercentage: &xds.FailurePercentageEjection{Threshold: 150, RequestVolume: -3},
		}}}}, []string{
			"outlierDetection.interval -1s is negative",
			"outlierDetection.maxEjectionPercent 101 is not a percentage",
			"outlierDetection.successRate.enforcementPercentage -1",
			"outlierDetection.successRate.minimumHosts -2",
			"outlierDetection.failurePercentage.threshold 150 is not a percentage",
			"outlierDetection.failurePercentage.requestVolume -3",
		}},
		{"subset", xds.Config{Services: []xds.Service{{Name: "svc", Target: "static:///127.0.0.1:1", Subset: &xds.Subset{Size: 10, Clients: 300}}}}, nil},
		{"subset size 0", xds.Config{Services: []xds.Service{{Name: "svc", Target: "static:///127.0.0.1:1", Subset: &xds.Subset{Clients: 300}}}},
			[]string{`service 0 ("svc")`, "subset.size 0 is not in [1, 10000]"}},
		{"subset clients out of range", xds.Config{Services: []xds.Service{{Name: "svc", Target: "static:///127.0.0.1:1", Subset: &xds.Subset{Size: 1, Clients: 100001}}}},
			[]string{"subset.clients 100001 is not in [1, 100000]"}},
		{"subset too large", xds.Config{Services: []xds.Service{{Name: "svc", Target: "static:///127.0.0.1:1", Subset: &xds.Subset{Size: 1000, Clients: 1001}}}},
			[]string{"subset.size × subset.clients is 1000 × 1001, more than 1000000"}},
		{"no services", xds.Config{}, []string{"no services"}},
		{"empty name", xds.Config{Services: []xds.Service{svc("", "static:///127.0.0.1:1")}}, []string{`service 0 ("")`, "empty name"}},
		{"name with a slash", xds.Config{Services: []xds.Service{svc("a/b", "static:///127.0.0.1:1")}}, []string{`"a/b"`, `'/'`}},
		{"xdstp name", xds.Config{Services: []xds.Service{svc("xdstp:a", "static:///127.0.0.1:1")}}, []string{"xdstp:"}},
		{"duplicate names", xds.Config{Services: []xds.Service{svc("svc", "static:///127.0.0.1:1"), svc("svc", "static:///127.0.0.1:2")}},
			[]string{`service 1 ("svc"): name already used by service 0`}},
		{"empty target", xds.Config{Services: []xds.Service{svc("svc", "")}}, []string{`"svc"`, "empty target"}},
		{"target without a scheme", xds.Config{Services: []xds.Service{svc("svc", "127.0.0.1:1")}}, []string{`"svc"`, "127.0.0.1:1"}},
		{"unregistered scheme", xds.Config{Services: []xds.Service{svc("svc", "nosuch:///x")}}, []string{`"svc"`, `scheme "nosuch"`}},
		{"unknown policy", xds.Config{Services: []xds.Service{{Name: "svc", Target: "static:///127.0.0.1:1", Policy: "random"}}},
			[]string{`unknown policy "random"`, "round_robin, least_request, ring_hash, weighted_round_robin"}},
		{"hash header without ring_hash", xds.Config{Services: []xds.Service{{Name: "svc", Target: "static:///127.0.0.1:1", HashHeader: "x-key"}}},
			[]string{`hashHeader "x-key" needs policy "ring_hash"`}},
		{"binary hash header", xds.Config{Services: []xds.Service{{Name: "svc", Target: "static:///127.0.0.1:1", Policy: xds.RingHash, HashHeader: "x-key-bin"}}},
			[]string{`hashHeader "x-key-bin"`}},
		{"every problem reported", xds.Config{Services: []xds.Service{svc("", "static:///127.0.0.1:1"), svc("b", "nosuch:///x")}},
			[]string{"empty name", `scheme "nosuch"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate: no error, want one with %q", tt.wantErr)
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Validate: %v\nwant it to contain %q", err, want)
				}
			}
		})
	}
}

// The zone knobs decode from JSON: zoneAware unset is on.
func TestParseConfigZones(t *testing.T) {
	cfg, err := xds.ParseConfig([]byte(`{"services":[
		{"name":"a","target":"static:///127.0.0.1:1"},
		{"name":"b","target":"static:///127.0.0.1:1","zoneAware":false},
		{"name":"c","target":"static:///127.0.0.1:1","zoneAware":true,"minZoneEndpoints":2}]}`))
	if err != nil {
		t.Fatal(err)
	}
	a, b, c := cfg.Services[0], cfg.Services[1], cfg.Services[2]
	if a.ZoneAware != nil || a.MinZoneEndpoints != 0 {
		t.Errorf("a: zoneAware %v, minZoneEndpoints %d; want unset", a.ZoneAware, a.MinZoneEndpoints)
	}
	if b.ZoneAware == nil || *b.ZoneAware {
		t.Errorf("b: zoneAware %v, want false", b.ZoneAware)
	}
	if c.ZoneAware == nil || !*c.ZoneAware || c.MinZoneEndpoints != 2 {
		t.Errorf("c: zoneAware %v, minZoneEndpoints %d; want true, 2", c.ZoneAware, c.MinZoneEndpoints)
	}
}

// The outlier detection block decodes from JSON, durations as strings, and
// encodes back to the same.
func TestParseConfigOutlierDetection(t *testing.T) {
	js := `{"services":[{"name":"svc","target":"static:///127.0.0.1:1","outlierDetection":{
		"interval":"500ms","baseEjectionTime":"1m","maxEjectionPercent":20,
		"failurePercentage":{"threshold":60,"minimumHosts":3,"requestVolume":10}}}]}`
	cfg, err := xds.ParseConfig([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	want := xds.OutlierDetection{
		Interval: 500 * time.Millisecond, BaseEjectionTime: time.Minute, MaxEjectionPercent: 20,
		FailurePercentage: &xds.FailurePercentageEjection{Threshold: 60, MinimumHosts: 3, RequestVolume: 10},
	}
	got := cfg.Services[0].OutlierDetection
	if got == nil || got.Interval != want.Interval || got.BaseEjectionTime != want.BaseEjectionTime || got.MaxEjectionPercent != want.MaxEjectionPercent ||
		got.SuccessRate != nil || got.FailurePercentage == nil || *got.FailurePercentage != *want.FailurePercentage {
		t.Fatalf("outlierDetection = %+v, want %+v", got, want)
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	again, err := xds.ParseConfig(b)
	if err != nil {
		t.Fatalf("ParseConfig of %s: %v", b, err)
	}
	if a := again.Services[0].OutlierDetection; a == nil || a.Interval != want.Interval || a.BaseEjectionTime != want.BaseEjectionTime || *a.FailurePercentage != *want.FailurePercentage {
		t.Errorf("round trip through %s: %+v", b, a)
	}
}

// ParseConfig decodes JSON, refuses unknown fields and trailing values,
// and validates.
func TestParseConfig(t *testing.T) {
	tests := []struct {
		name, json string
		wantErr    string
	}{
		{"good", `{"services":[{"name":"svc","target":"static:///127.0.0.1:1","policy":"ring_hash","hashHeader":"x-k"}]}`, ""},
		{"unknown field", `{"services":[{"name":"svc","target":"static:///127.0.0.1:1","polcy":"ring_hash"}]}`, `unknown field "polcy"`},
		{"not JSON", `services: []`, "xds: config"},
		{"two values", `{"services":[{"name":"svc","target":"static:///127.0.0.1:1"}]} {}`, "more than one JSON value"},
		{"invalid", `{"services":[{"name":"svc","target":"nosuch:///x"}]}`, `scheme "nosuch"`},
		{"zoneAware not a bool", `{"services":[{"name":"svc","target":"static:///127.0.0.1:1","zoneAware":"yes"}]}`, "zoneAware"},
		{"minZoneEndpoints not a number", `{"services":[{"name":"svc","target":"static:///127.0.0.1:1","minZoneEndpoints":"2"}]}`, "minZoneEndpoints"},
		{"outlier duration not a duration", `{"services":[{"name":"svc","target":"static:///127.0.0.1:1","outlierDetection":{"interval":"soon","failurePercentage":{}}}]}`,
			`outlierDetection.interval "soon" is not a duration`},
		{"outlier unknown field", `{"services":[{"name":"svc","target":"static:///127.0.0.1:1","outlierDetection":{"intervall":"1s","failurePercentage":{}}}]}`,
			`unknown field "intervall"`},
		{"outlier threshold not a number", `{"services":[{"name":"svc","target":"static:///127.0.0.1:1","outlierDetection":{"failurePercentage":{"threshold":"85"}}}]}`,
			"threshold"},
		{"subset without a size", `{"services":[{"name":"svc","target":"static:///127.0.0.1:1","subset":{"clients":300}}]}`, "subset.size 0 is not in [1, 10000]"},
		{"subset unknown field", `{"services":[{"name":"svc","target":"static:///127.0.0.1:1","subset":{"size":10,"client":300}}]}`, `unknown field "client"`},
		{"minZoneEndpoints negative", `{"services":[{"name":"svc","target":"static:///127.0.0.1:1","minZoneEndpoints":-2}]}`, "minZoneEndpoints -2 is negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := xds.ParseConfig([]byte(tt.json))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if len(cfg.Services) != 1 || cfg.Services[0].HashHeader != "x-k" {
					t.Errorf("ParseConfig = %+v", cfg)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseConfig: %v, want an error with %q", err, tt.wantErr)
			}
		})
	}
}
